"""The paper's four algorithms side by side (its Figure 1, on this machine): A3C, one-step Q,
one-step Sarsa and n-step Q, each from its preset for the env, and their worker scaling.

    python -m benchmarks.algorithms --env CartPole-v1 --seeds 3
    python -m benchmarks.algorithms --env CartPole-v1 --seeds 1 --scaling-steps 0

For each algorithm and seed (each run its own subprocess, one after another): time and steps until
the mean of the last 100 training episodes reaches the env's threshold (CartPole-v1: 475), the
learning curve (that mean against wall-clock time and steps), with the stop at the threshold.
Scaling: steps/s of a fixed-length run with 1 and with 2 workers (the rate between the workers'
first and last log records, so process start-up is not counted), threshold off. Writes
``algorithms_<env>.json`` and a PNG to --out-dir and regenerates benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.report import RESULTS, measured, median_time, save_results

THRESHOLDS = {"CartPole-v1": 475.0}
ALGOS = ("a3c", "q", "sarsa", "nstep_q")


def run_to_threshold(algo: str, env_id: str, seed: int, budget: int) -> dict[str, Any]:
    """The algorithm's preset for the env until the threshold, or its own step budget (also the
    horizon of a linear learning-rate schedule); ``budget`` > 0 replaces that budget."""
    from a3c.plots import read_csv
    from benchmarks.suite import learning_curve
    from benchmarks.time_to_solve import train_a3c

    threshold = THRESHOLDS[env_id]
    with tempfile.TemporaryDirectory() as tmp:
        agent = train_a3c(
            env_id,
            run_dir=Path(tmp),
            algo=algo,
            seed=seed,
            stop_at_return=threshold,
            **({"total_steps": budget} if budget > 0 else {}),
        )
        assert agent.run_dir is not None and agent.summary is not None
        episodes = read_csv(agent.run_dir / "episodes.csv")
    columns = [episodes.get(k, np.array([])) for k in ("wall_time", "global_step", "return")]
    order = np.argsort(columns[0], kind="stable")
    times, steps, returns = (c[order] for c in columns)
    curve = learning_curve(times, steps, returns, threshold)
    return {
        **curve,
        "wall_s": agent.summary.wall_time,
        "steps": agent.summary.global_step,
        "budget": agent.config.total_steps,
        "preset": agent.config.preset,
    }


def steps_per_second(algo: str, env_id: str, workers: int, steps: int) -> dict[str, Any]:
    """Steady-state steps/s of the algorithm's preset with ``workers`` workers."""
    from a3c.plots import read_csv
    from benchmarks.time_to_solve import train_a3c

    with tempfile.TemporaryDirectory() as tmp:
        agent = train_a3c(
            env_id,
            run_dir=Path(tmp),
            algo=algo,
            workers=workers,
            total_steps=steps,
            stop_at_return=None,
            log_interval=0.25,
        )
        assert agent.run_dir is not None
        updates = read_csv(agent.run_dir / "updates.csv")
    order = np.argsort(updates["wall_time"], kind="stable")
    times, counted = updates["wall_time"][order], np.cumsum(updates["steps"][order])
    # from the first record to the last: the steps logged after the first, over that time
    rate = float((counted[-1] - counted[0]) / (times[-1] - times[0]))
    return {"workers": workers, "steps": int(counted[-1]), "steps_per_s": rate}


def _subprocess(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.algorithms", "--single", *args],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"run {args} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def plot(results: dict[str, Any], path: Path) -> None:
    """Figure 1's layout: the last-100 training mean against wall-clock time, one colour per
    algorithm, one line per seed; and the same against steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (algo, rows) in enumerate(results["runs"].items()):
        for j, row in enumerate(rows):
            curve = row["curve"]
            label = algo if j == 0 else None
            axes[0].plot(curve["wall_time"], curve["mean_return"], color=f"C{i}", label=label)
            axes[1].plot(curve["steps"], curve["mean_return"], color=f"C{i}", label=label)
    for ax, xlabel in zip(axes, ("wall-clock seconds", "environment steps"), strict=True):
        ax.axhline(results["threshold"], color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean return, last 100 training episodes")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"{results['env']}: the paper's four algorithms ({results['machine']})", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1", choices=sorted(THRESHOLDS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--algos", default=",".join(ALGOS))
    parser.add_argument(
        "--budget", type=int, default=0, help="steps before giving up (0: each preset's own)"
    )
    parser.add_argument(
        "--scaling-steps", type=int, default=200_000, help="steps of each scaling run (0: none)"
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--single", nargs="+", help=argparse.SUPPRESS)  # one run (internal)
    args = parser.parse_args()
    if args.single:
        kind, algo, env_id, number, steps = args.single
        if kind == "solve":
            print(json.dumps(run_to_threshold(algo, env_id, int(number), int(steps))))
        else:
            print(json.dumps(steps_per_second(algo, env_id, int(number), int(steps))))
        return

    algos = args.algos.split(",")
    threshold = THRESHOLDS[args.env]
    results: dict[str, Any] = {
        "env": args.env,
        "threshold": threshold,
        "seeds": args.seeds,
        "budget": args.budget,
        **measured(),
        "runs": {},
        "scaling": {},
    }
    print(f"{args.env}: seconds (steps) until the last-100 training mean >= {threshold:g}")
    for algo in algos:
        rows = []
        for seed in range(args.seeds):
            row = {
                "seed": seed,
                **_subprocess("solve", algo, args.env, str(seed), str(args.budget)),
            }
            rows.append(row)
            shown = (
                f"{row['time_to_solve_s']:.1f} s ({row['steps_to_solve']:,})"
                if row["solved"]
                else f"unsolved (best {row['best_last100']}, {row['steps']:,} steps)"
            )
            print(f"  {algo:8s} seed {seed}: {shown}  [preset {row['preset']}]", flush=True)
        results["runs"][algo] = rows
    if args.scaling_steps:
        print(f"steps/s, {args.scaling_steps:,} steps, 1 and 2 workers")
        for algo in algos:
            one, two = (
                _subprocess("scale", algo, args.env, str(w), str(args.scaling_steps))
                for w in (1, 2)
            )
            results["scaling"][algo] = {
                "one": one,
                "two": two,
                "speedup": two["steps_per_s"] / one["steps_per_s"],
            }
            print(
                f"  {algo:8s} {one['steps_per_s']:8.0f} -> {two['steps_per_s']:8.0f} "
                f"({two['steps_per_s'] / one['steps_per_s']:.2f}x)",
                flush=True,
            )
    print()
    print(f"{'algo':8s} {'solved':>6s} {'median s':>9s} {'median steps':>13s}")
    for algo, rows in results["runs"].items():
        solved = [r for r in rows if r["solved"]]
        med = median_time(rows)
        steps = statistics.median(r["steps_to_solve"] for r in solved) if solved else None
        print(
            f"{algo:8s} {len(solved):>3d}/{len(rows):<2d} "
            f"{'-' if med is None else f'{med:.1f}':>9s} "
            f"{'-' if steps is None else f'{steps:,.0f}':>13s}"
        )
    stem = f"algorithms_{args.env}"
    report = save_results(args.out_dir, stem, results)
    plot(results, args.out_dir / f"{stem}.png")
    print(f"wrote {args.out_dir / stem}.json/.png and {report}")


if __name__ == "__main__":
    main()
