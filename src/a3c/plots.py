"""Learning curves from run directories: training episodes and evaluations, like seed 003's plot."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def read_csv(path: Path) -> dict[str, np.ndarray]:
    """Columns of a CSV log as float arrays (empty arrays if the file has no rows)."""
    if not path.exists():
        return {}
    with path.open() as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    return {name: np.array([float(r[i]) for r in body]) for i, name in enumerate(header)}


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each index (fewer at the start)."""
    cumsum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(idx - window, 0)
    return (cumsum[idx] - cumsum[start]) / (idx - start)


def plot_runs(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    labels: Sequence[str] | None = None,
    window: int = 100,
    title: str | None = None,
) -> Path:
    """Plot return against steps and against wall time for each run; write a PNG to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, run_dir in enumerate(run_dirs):
        run_dir = Path(run_dir)
        label = labels[i] if labels else run_dir.name
        color = f"C{i % 10}"
        episodes = read_csv(run_dir / "episodes.csv")
        if episodes and len(episodes["return"]):
            order = np.argsort(episodes["wall_time"], kind="stable")
            ret = episodes["return"][order]
            smooth = rolling_mean(ret, window)
            for ax, x in (
                (by_step, episodes["global_step"][order]),
                (by_time, episodes["wall_time"][order]),
            ):
                ax.plot(x, ret, ".", color=color, alpha=0.08, markersize=2)
                ax.plot(x, smooth, color=color, label=f"{label}: train (last {window})")
        evals = read_csv(run_dir / "eval.csv")
        if evals and len(evals["mean_return"]):
            for ax, x in ((by_step, evals["global_step"]), (by_time, evals["wall_time"])):
                ax.errorbar(
                    x,
                    evals["mean_return"],
                    yerr=evals["std_return"],
                    fmt="o--",
                    color=color,
                    markersize=4,
                    capsize=2,
                    label=f"{label}: eval",
                )
    by_step.set_xlabel("environment steps")
    by_time.set_xlabel("wall time (s)")
    for ax in (by_step, by_time):
        ax.set_ylabel("episode return")
        ax.grid(alpha=0.3)
    if by_step.get_legend_handles_labels()[0]:
        by_step.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
