"""Wall-clock time to solve, side by side: our A3C against Stable-Baselines3 A2C and PPO.

    python -m benchmarks.time_to_solve --env CartPole-v1 --seeds 5
    python -m benchmarks.time_to_solve --env Pendulum-v1 --seeds 5

Criterion for every contender: the mean return of the last 100 *training* episodes reaches the
threshold (CartPole-v1: 475, Gymnasium's; Pendulum-v1: -200); time from the start of training,
no evaluation during it. Ours: the env's preset with evaluation, TensorBoard and the progress bar
off and a stop at the threshold. Peers: RL-Zoo hyper-parameters (benchmarks/peers.py), stopped by a
callback on the same window. Each run is its own subprocess, one after another, on this machine.
Prints per-seed times and steps, medians and the ratios of our median to each peer's; writes JSON
and a PNG to --out-dir and regenerates benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.report import RESULTS, measured, median_time, save_results

if TYPE_CHECKING:
    from a3c import A3C

THRESHOLDS = {"CartPole-v1": 475.0, "Pendulum-v1": -200.0}
ALGOS = ("a3c", "sb3-a2c", "sb3-ppo")


#: What every benchmark's a3c run sets on top of its preset: no evaluator, TensorBoard, progress
#: bar or checkpoints.
BENCHMARK_SETTINGS: dict[str, Any] = dict(
    eval_interval=0, tensorboard=False, progress=False, checkpoint_interval=0
)


def train_a3c(env_id: str, run_dir: Path | None = None, **overrides: Any) -> A3C:
    """Our contender as every benchmark measures it: the env's preset with the evaluator,
    TensorBoard, the progress bar and checkpoints off, in ``run_dir`` (the caller's to read and
    remove) or else a throw-away run directory."""
    from a3c import A3C

    with tempfile.TemporaryDirectory() as tmp:
        agent = A3C(env_id, run_dir=str(run_dir or tmp), **{**BENCHMARK_SETTINGS, **overrides})
        agent.learn()
    assert agent.summary is not None
    return agent


def run_a3c(env_id: str, seed: int, threshold: float, **overrides: Any) -> dict[str, Any]:
    agent = train_a3c(env_id, seed=seed, stop_at_return=threshold, **overrides)
    s = agent.summary
    assert s is not None
    return {
        "solved": s.solved_step is not None,
        "time_to_solve_s": s.solved_wall_time,
        "steps_to_solve": s.solved_step,
        "wall_s": s.wall_time,
        "steps": s.global_step,
        "best_last100": s.best_mean_last100,
        "workers": agent.config.workers,
        "envs_per_worker": agent.config.envs_per_worker,
    }


def run_one(algo: str, env_id: str, seed: int) -> dict[str, Any]:
    threshold = THRESHOLDS[env_id]
    if algo == "a3c":
        return run_a3c(env_id, seed, threshold)
    from benchmarks.peers import run_sb3

    return run_sb3(algo.removeprefix("sb3-"), env_id, seed, threshold)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, (algo, rows) in enumerate(results["runs"].items()):
        times = [r["time_to_solve_s"] for r in rows if r["solved"]]
        ax.scatter(times, [i] * len(times), color=f"C{i}", zorder=3)
        med = median_time(rows)
        if med is not None:
            ax.plot([med, med], [i - 0.3, i + 0.3], color=f"C{i}", linewidth=3)
        unsolved = sum(not r["solved"] for r in rows)
        label = f"{algo}" + (f" ({unsolved} unsolved)" if unsolved else "")
        ax.text(0, i + 0.35, label, fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(left=0)
    ax.set_xlabel("wall-clock seconds to solve (dots: seeds, bar: median)")
    ax.set_title(f"{results['env']}: last-100 training mean >= {results['threshold']:g}")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1", choices=sorted(THRESHOLDS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--algos", default=",".join(ALGOS))
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--single", nargs=3, metavar=("ALGO", "ENV", "SEED"), help=argparse.SUPPRESS
    )  # one run, JSON on stdout (used internally)
    args = parser.parse_args()
    if args.single:
        algo, env_id, seed = args.single
        print(json.dumps(run_one(algo, env_id, int(seed))))
        return

    algos = args.algos.split(",")
    results: dict[str, Any] = {
        "env": args.env,
        "threshold": THRESHOLDS[args.env],
        **measured(),
        "runs": {},
    }
    print(
        f"{args.env}: seconds (steps) until the last-100 training mean >= "
        f"{THRESHOLDS[args.env]:g}; {results['machine']}"
    )
    for algo in algos:
        rows = []
        for seed in range(args.seeds):
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.time_to_solve",
                    "--single",
                    algo,
                    args.env,
                    str(seed),
                ],
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                raise SystemExit(f"{algo} seed {seed} failed:\n{out.stderr}")
            row = {"seed": seed, **json.loads(out.stdout.strip().splitlines()[-1])}
            rows.append(row)
            shown = (
                f"{row['time_to_solve_s']:.1f} s ({row['steps_to_solve']:,})"
                if row["solved"]
                else f"unsolved ({row['steps']:,} steps, {row['wall_s']:.0f} s)"
            )
            print(f"  {algo:8s} seed {seed}: {shown}", flush=True)
        results["runs"][algo] = rows
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
    ours = median_time(results["runs"].get("a3c", []))
    results["ratios"] = {}
    for algo, rows in results["runs"].items():
        theirs = median_time(rows)
        if algo != "a3c" and ours is not None and theirs is not None:
            results["ratios"][algo] = ours / theirs
            print(f"a3c median / {algo} median = {ours / theirs:.2f} ({theirs / ours:.1f}x sooner)")
    stem = f"time_to_solve_{args.env}"
    report = save_results(args.out_dir, stem, results)
    plot(results, args.out_dir / f"{stem}.png")
    print(f"wrote {args.out_dir / stem}.json/.png and {report}")


if __name__ == "__main__":
    main()
