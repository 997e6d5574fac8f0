"""A Pong learning run under a wall-clock budget, with its curve and its time to a target score.

    python -m benchmarks.pong_learning --hours 3                    # train, then report
    python -m benchmarks.pong_learning --report runs/pong-learning  # report on a run (even live)

Training is the CLI on the env's preset (``PongNoFrameskip-v4``: the paper's CNN, shared RMSprop,
n_steps 5, 2 workers x 8 games), stopped by SIGINT at the deadline (a final checkpoint is written;
``a3c train --resume`` goes on from it). The evaluator plays ``eval_episodes`` whole games with the
greedy policy every ``eval_interval`` steps; the target is met at the first evaluation whose mean
score reaches ``--target`` (18 by default). Writes the figures as JSON and the curve as a PNG to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from a3c.plots import read_csv, rolling_mean
from benchmarks.report import RESULTS, measured, save_results

#: the config fields a Pong run's figures are shown with
SETTINGS = ("network", "lstm", "optimizer", "lr", "total_steps", "n_steps", "vf_coef", "ent_coef")


def train(env_id: str, run_dir: Path, hours: float, overrides: list[str]) -> int:
    """Run ``a3c train`` for at most ``hours``; returns its exit status."""
    if (run_dir / "checkpoints").is_dir():  # go on with an interrupted run
        run = ["--resume", str(run_dir)]
    else:
        run = [env_id, "--run-dir", str(run_dir.parent), "--run-name", run_dir.name]
    command = [sys.executable, "-m", "a3c", "train", *run, "--no-progress", *overrides]
    print(" ".join(command), flush=True)
    process = subprocess.Popen(command)
    deadline = time.time() + hours * 3600
    try:
        while process.poll() is None and time.time() < deadline:
            time.sleep(5)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # a graceful stop: final checkpoint, flushed logs
        return process.wait(timeout=120)
    except BaseException:
        process.kill()
        raise


def report(run_dir: Path, target: float) -> dict[str, Any]:
    """Figures and curve of a (finished or running) training run."""
    evals = read_csv(run_dir / "eval.csv")
    episodes = read_csv(run_dir / "episodes.csv")
    if not evals:
        raise SystemExit(f"no evaluations yet in {run_dir}/eval.csv")
    reached = [i for i, m in enumerate(evals["mean_return"]) if m >= target]
    first = reached[0] if reached else None
    config = json.loads((run_dir / "config.json").read_text())
    figures: dict[str, Any] = {
        "env_id": config["env_id"],
        **measured(),
        "workers": config["workers"],
        "envs_per_worker": config["envs_per_worker"],
        # what a reader needs to redo the run: the preset, then these
        "settings": {key: config[key] for key in SETTINGS},
        "target": target,
        "hours": float(evals["wall_time"][-1]) / 3600,
        "steps": int(evals["global_step"][-1]),
        "evaluations": len(evals["mean_return"]),
        "best_eval": float(evals["mean_return"].max()),
        "last_eval": float(evals["mean_return"][-1]),
        "time_to_target_h": None if first is None else float(evals["wall_time"][first]) / 3600,
        "steps_to_target": None if first is None else int(evals["global_step"][first]),
        "curve": [
            (round(float(t) / 3600, 3), int(s), float(m))
            for t, s, m in zip(
                evals["wall_time"], evals["global_step"], evals["mean_return"], strict=True
            )
        ],
    }
    if episodes:
        figures["train_last100"] = float(rolling_mean(episodes["return"], 100)[-1])
    plot(evals, episodes, target, RESULTS / "pong_learning.png", figures["env_id"])
    return figures


def plot(
    evals: dict[str, Any], episodes: dict[str, Any], target: float, out: Path, title: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if episodes:
        ax.plot(
            episodes["wall_time"] / 3600,
            rolling_mean(episodes["return"], 100),
            label="training games, last-100 mean",
            alpha=0.7,
        )
    ax.plot(evals["wall_time"] / 3600, evals["mean_return"], "o-", label="evaluation (greedy)")
    ax.axhline(target, color="gray", linestyle="--", linewidth=1, label=f"target {target:g}")
    ax.set_xlabel("hours of training")
    ax.set_ylabel("score")
    ax.set_ylim(-21.5, 21.5)
    ax.set_title(title)
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="PongNoFrameskip-v4")
    parser.add_argument("--hours", type=float, default=3.0, help="wall-clock training budget")
    parser.add_argument("--target", type=float, default=18.0)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/pong-learning"))
    parser.add_argument("--report", type=Path, metavar="RUN_DIR", help="only report on a run")
    parser.add_argument("--note", default="", help="a remark stored with the figures")
    parser.add_argument("overrides", nargs="*", help="extra `a3c train` options, after --")
    args = parser.parse_args()
    run_dir = args.report or args.run_dir
    if args.report is None:
        status = train(args.env, args.run_dir, args.hours, args.overrides)
        print(f"a3c train exited with {status}")
    figures = report(run_dir, args.target)
    if args.note:
        figures["note"] = args.note
    save_results(RESULTS, "pong_learning", figures)
    curve = figures.pop("curve")
    print(json.dumps(figures, indent=2))
    print("hours  steps      eval score")
    for hours, steps, score in curve:
        print(f"{hours:5.2f}  {steps:>9}  {score:6.1f}")


if __name__ == "__main__":
    main()
