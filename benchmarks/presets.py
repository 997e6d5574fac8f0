"""Acceptance runs of the bundled presets, through the CLI exactly as a user runs them.

    python -m benchmarks.presets --env CartPole-v1 --seeds 5
    python -m benchmarks.presets --env Pendulum-v1 --seeds 5 --eval-episodes 20

For each seed: ``a3c train ENV --seed S``, then ``a3c eval final.pt --episodes N``. Prints, per
seed, the wall time and steps at which the mean return of the last 100 training episodes first
reached the threshold (from ``episodes.csv``; evaluation time excluded only in that the evaluator
runs beside the workers), the best last-100 mean, and the final deterministic evaluation. Writes
JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from a3c.plots import read_csv, rolling_mean

THRESHOLDS = {"CartPole-v1": 475.0, "Pendulum-v1": -200.0}


def first_crossing(run_dir: Path, threshold: float, window: int = 100) -> tuple[float, int] | None:
    """(wall time, global step) when the last-``window`` training mean first reached threshold."""
    episodes = read_csv(run_dir / "episodes.csv")
    order = np.argsort(episodes["wall_time"], kind="stable")
    means = rolling_mean(episodes["return"][order], window)
    hits = np.flatnonzero((np.arange(len(means)) >= window - 1) & (means >= threshold))
    if not len(hits):
        return None
    i = order[hits[0]]
    return float(episodes["wall_time"][i]), int(episodes["global_step"][i])


def best_window_mean(run_dir: Path, window: int = 100) -> float:
    episodes = read_csv(run_dir / "episodes.csv")
    returns = episodes["return"][np.argsort(episodes["wall_time"], kind="stable")]
    return float(rolling_mean(returns, window)[window - 1 :].max())


def run_seed(env: str, seed: int, root: Path, eval_episodes: int, extra: list[str]) -> dict:
    name = f"{env}-s{seed}"
    start = time.time()
    cmd = [
        sys.executable,
        "-m",
        "a3c",
        "train",
        env,
        "--seed",
        str(seed),
        "--run-dir",
        str(root),
        "--run-name",
        name,
        "--no-progress",
        *extra,
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    process_time = time.time() - start
    run_dir = root / name
    summary = json.loads((run_dir / "summary.json").read_text())
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "a3c",
            "eval",
            str(run_dir / "checkpoints" / "final.pt"),
            "--episodes",
            str(eval_episodes),
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    crossing = first_crossing(run_dir, THRESHOLDS[env])
    return {
        "seed": seed,
        "solved": crossing is not None,
        "time_to_solve_s": None if crossing is None else crossing[0],
        "steps_to_solve": None if crossing is None else crossing[1],
        "best_last100": best_window_mean(run_dir),
        "train_wall_s": summary["wall_time"],
        "process_wall_s": process_time,
        "total_steps": summary["global_step"],
        "final_eval_mean": json.loads(out.stdout)["mean_return"],
        "final_eval_std": json.loads(out.stdout)["std_return"],
        "run_dir": str(run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1", choices=sorted(THRESHOLDS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--run-root", help="where run directories go (default: a temp dir)")
    parser.add_argument("--out", help="JSON results path")
    parser.add_argument("extra", nargs="*", help="more `a3c train` options, after --")
    args = parser.parse_args()
    root = Path(args.run_root or tempfile.mkdtemp(prefix="a3c-presets-"))
    rows = []
    print(f"{args.env}: threshold {THRESHOLDS[args.env]} (mean of the last 100 training episodes)")
    print(
        f"{'seed':>4} {'solved':>6} {'time s':>7} {'steps':>9} {'best100':>8} {'train s':>8} "
        f"{'eval':>14}"
    )
    for seed in range(args.seeds):
        r = run_seed(args.env, seed, root, args.eval_episodes, args.extra)
        rows.append(r)
        t = "-" if r["time_to_solve_s"] is None else f"{r['time_to_solve_s']:.1f}"
        s = "-" if r["steps_to_solve"] is None else f"{r['steps_to_solve']:,}"
        print(
            f"{seed:>4} {r['solved']!s:>6} {t:>7} {s:>9} {r['best_last100']:>8.1f} "
            f"{r['train_wall_s']:>8.1f} {r['final_eval_mean']:>7.1f}+-{r['final_eval_std']:<6.1f}",
            flush=True,
        )
    solved = [r for r in rows if r["solved"]]
    print(f"solved {len(solved)}/{len(rows)}", end="")
    if solved:
        print(
            f"; median time {statistics.median(r['time_to_solve_s'] for r in solved):.1f} s, "
            f"median steps {statistics.median(r['steps_to_solve'] for r in solved):,.0f}",
            end="",
        )
    print(
        f"; final eval ({args.eval_episodes} episodes) min over seeds "
        f"{min(r['final_eval_mean'] for r in rows):.1f}"
    )
    if args.out:
        Path(args.out).write_text(json.dumps({"env": args.env, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
