"""Learning curves from run directories: training episodes and evaluations, like seed 003's plot."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from a3c.config import FIELDS_BEFORE

# Config fields that say where and how a run was logged, not what was trained.
_BOOKKEEPING = ("run_dir", "run_name", "progress", "tensorboard", "log_interval")
# More differing fields than this make a label that no legend can hold.
_MAX_LABEL_FIELDS = 3


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


def _read_config(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    # a run saved before a field existed was trained as its value then was
    return {**FIELDS_BEFORE, **data} if isinstance(data, dict) else None


def _value_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def describe_runs(run_dirs: Sequence[str | Path]) -> tuple[list[str], str | None]:
    """Legend labels and a title for plotting runs together, from their ``config.json``.

    A label names the config fields whose values differ between the runs (``seed=1``; the
    preset alone when more than a few fields differ and the presets tell the runs apart), else
    it is the directory's name. The title is the environment id(s); None without configs.
    """
    dirs = [Path(d) for d in run_dirs]
    names = [d.resolve().name for d in dirs]
    configs = [_read_config(d) for d in dirs]
    env_ids = list(dict.fromkeys(str(c["env_id"]) for c in configs if c and "env_id" in c))
    title = ", ".join(env_ids) or None
    known = [c for c in configs if c is not None]
    if len(dirs) < 2 or len(known) < len(dirs):
        return names, title

    fields = [k for k in dict.fromkeys(k for c in known for k in c) if k not in _BOOKKEEPING]
    differing = [
        k for k in fields if len({json.dumps(c.get(k), sort_keys=True) for c in known}) > 1
    ]
    if len(differing) > _MAX_LABEL_FIELDS:
        by_preset: list[str] = [k for k in ("env_id", "preset") if k in differing]
        differing = by_preset if "preset" in by_preset else []
    labels = [", ".join(f"{k}={_value_text(c.get(k))}" for k in differing) for c in known]
    if not differing:
        labels = names
    elif len(set(labels)) < len(labels):  # what differs does not tell every run apart
        labels = [f"{name} ({label})" for name, label in zip(names, labels, strict=True)]
    return labels, title


def default_output(run_dirs: Sequence[str | Path]) -> Path:
    """Where ``a3c plot`` writes: ``learning_curve.png`` in a single run's directory, else
    ``learning_curves.png`` in the folder that holds the runs (their common parent), or in the
    working directory when the runs share no folder but the root (or one that cannot be
    written)."""
    dirs = [Path(d).resolve() for d in run_dirs]
    if len(dirs) == 1:
        return dirs[0] / "learning_curve.png"
    parent = Path(os.path.commonpath([d.parent for d in dirs]))
    if parent == Path(parent.anchor) or not os.access(parent, os.W_OK):
        parent = Path.cwd()
    return parent / "learning_curves.png"


def plot_runs(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    labels: Sequence[str] | None = None,
    window: int = 100,
    title: str | None = None,
) -> Path:
    """Plot return against steps and against wall time for each run; write a PNG to ``out``.

    Labels and title default to :func:`describe_runs`'s.
    """
    described_labels, described_title = describe_runs(run_dirs)
    labels = described_labels if labels is None else labels
    title = described_title if title is None else title
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, run_dir in enumerate(run_dirs):
        run_dir = Path(run_dir)
        label = labels[i]
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
