"""Atari learning runs under a wall-clock budget: the greedy evaluation curve against hours and
steps, the time to a target score, and the published references for the same game.

    python -m benchmarks.atari --env PongNoFrameskip-v4 --hours 0.75             # train, report
    python -m benchmarks.atari --env BreakoutNoFrameskip-v4 --hours 1
    python -m benchmarks.atari --env PongNoFrameskip-v4 --name pong-8m --hours 0.75 -- \\
        --total-steps 8000000                                                    # preset + options
    python -m benchmarks.atari --env PongNoFrameskip-v4 --report runs/atari/pong  # a run, even live

Training is ``a3c train`` on the env's preset (plus the options after ``--``) in
``runs/atari/NAME`` (``--name``, default the env's preset name: ``ALE-Pong-v5``), stopped by
SIGINT at the deadline (a final checkpoint is written). Run the same command again and it resumes
from that checkpoint (weights, optimizer statistics, counters, lr schedule and wall clock), so a
long run can span sessions; ``--hours`` is then the budget of this piece. The evaluator plays
``eval_episodes`` whole games with the greedy policy every ``eval_interval`` steps; the target
(``--target``, or the game's in :data:`TARGETS`) is met at the first evaluation whose mean score
reaches it. Writes the run's figures to ``benchmarks/results/atari_NAME.json``, one PNG per game
with the curves of all its runs, and regenerates RESULTS.md, where each game's runs stand beside
the published references (:data:`REFERENCES`) with their budgets.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from a3c.config import env_preset_name
from a3c.plots import read_csv, rolling_mean
from benchmarks.report import RESULTS, measured, save_results

#: the config fields a run's figures are shown with: the algorithm's own after the common ones
SETTINGS = (
    "algo",
    "network",
    "screen_size",
    "cnn_precision",
    "lstm",
    "optimizer",
    "lr",
    "total_steps",
    "n_steps",
)
ALGO_SETTINGS = {
    "a3c": ("vf_coef", "ent_coef"),
    "value-based": ("target_interval", "epsilon_anneal_steps", "final_epsilons"),
}

ZOO = "RL-Zoo (DLR-RM/rl-baselines3-zoo, benchmark.md: one run)"
ZOO_BUDGET = "10M steps (40M frames), {} envs; stochastic policy (the zoo's Atari protocol)"
PFRL = "PFRL's A3C reproduction (pfnet/pfrl, examples/atari/reproduction/a3c)"
PFRL_BUDGET = (
    "16 processes, 80M steps (train_a3c.py's default); the best intermediate evaluation "
    "(no-op starts), mean of 3 seeds"
)
PAPER = "Mnih et al. 2016, A3C FF 1 day (Table S3)"
PAPER_BUDGET = "16 CPU threads for 1 day; human starts (not no-op starts)"

#: The score a game's runs are timed to, where there is a customary one (Pong: 18, as the paper's
#: "solved" scores and the issue's target); other games report their curves and best scores.
TARGETS = {"Pong": 18.0}

#: Published scores per game: (source, score, budget and protocol), read from the sources' own
#: files. The paper's Figure 1 (score against hours, 16 threads) gives no numbers to cite.
REFERENCES: dict[str, list[tuple[str, str, str]]] = {
    game: [
        (f"{ZOO}, A2C", a2c, ZOO_BUDGET.format(16)),
        (f"{ZOO}, PPO", ppo, ZOO_BUDGET.format(8)),
        (PFRL, pfrl, PFRL_BUDGET),
        (PAPER, paper, PAPER_BUDGET),
    ]
    for game, a2c, ppo, pfrl, paper in [
        ("BeamRider", "2,890 +- 1,379", "3,397 +- 1,662", "8,882.6", "13,235.9"),
        ("Breakout", "279.8 +- 122.2", "398.0 +- 33.3", "581.0", "551.6"),
        ("Pong", "17.3 +- 3.2", "21.0 +- 0.1", "20.9", "11.4"),
        ("Qbert", "3,882 +- 1,223", "15,627 +- 3,314", "20,721.9", "13,752.3"),
        ("SpaceInvaders", "627.2 +- 202.0", "960.3 +- 425.4", "1,043.5", "2,214.7"),
    ]
}


def game_of(env_id: str) -> str:
    """``PongNoFrameskip-v4`` and ``ALE/Pong-v5`` are both ``Pong``."""
    name = env_id.split("/")[-1]
    return re.sub(r"(NoFrameskip)?-v\d+$", "", name)


def check_same_env(run_dir: Path, env_id: str, algo: str = "a3c") -> None:
    """Refuse to resume a run of another environment, or another algorithm, under the same
    name."""
    path = run_dir / "config.json"
    if not path.exists():
        return
    config = json.loads(path.read_text())
    if config["env_id"] != env_id:
        raise SystemExit(f"{run_dir} is a run of another env; give this one its own --name")
    run_algo = config.get("algo", "a3c")  # runs from before --algo have no "algo"
    if run_algo != algo:
        raise SystemExit(f"{run_dir} is a run of {run_algo}; give this one its own --name")


def train(env_id: str, run_dir: Path, hours: float, overrides: list[str]) -> int:
    """Run (or resume) ``a3c train`` for at most ``hours``; returns its exit status."""
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


def report(run_dir: Path, target: float | None) -> dict[str, Any]:
    """Figures and curve of a (finished or running) training run; the time to ``target``."""
    evals = read_csv(run_dir / "eval.csv")
    episodes = read_csv(run_dir / "episodes.csv")
    if not evals:
        raise SystemExit(f"no evaluations yet in {run_dir}/eval.csv")
    reached = [i for i, m in enumerate(evals["mean_return"]) if target is not None and m >= target]
    first = reached[0] if reached else None
    config = json.loads((run_dir / "config.json").read_text())
    figures: dict[str, Any] = {
        "env_id": config["env_id"],
        "game": game_of(config["env_id"]),
        **measured(),
        "workers": config["workers"],
        "envs_per_worker": config["envs_per_worker"],
        # what a reader needs to redo the run: the preset, then these
        # (runs older than a setting lack it)
        "settings": {key: config[key] for key in settings_of(config) if key in config},
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
    return figures


def settings_of(config: dict[str, Any]) -> tuple[str, ...]:
    """The fields of a run's ``config.json`` that its figures are shown with."""
    algo = config.get("algo", "a3c")
    return SETTINGS + ALGO_SETTINGS["a3c" if algo == "a3c" else "value-based"]


def plot_game(game: str, results: Path = RESULTS) -> Path:
    """One PNG of every run of ``game``: greedy evaluation scores against hours and steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = runs_of(game, results)
    fig, (by_hours, by_steps) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for name, data in runs:
        hours, steps, scores = zip(*data["curve"], strict=True)
        by_hours.plot(hours, scores, "o-", markersize=3, label=name)
        by_steps.plot([s / 1e6 for s in steps], scores, "o-", markersize=3, label=name)
    target = runs[0][1].get("target") if runs else None
    for ax, xlabel in ((by_hours, "hours of training"), (by_steps, "agent steps (millions)")):
        if target is not None:
            ax.axhline(target, color="gray", linestyle="--", linewidth=1)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    by_hours.set_ylabel("greedy evaluation score (whole games)")
    by_hours.legend(loc="best", fontsize=8)
    fig.suptitle(f"{game}: a3c on this machine")
    fig.tight_layout()
    out = results / f"atari_{game}.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def runs_of(game: str, results: Path = RESULTS) -> list[tuple[str, dict[str, Any]]]:
    """(run name, figures) of every saved run of ``game``, oldest first."""
    runs = []
    for path in sorted(results.glob("atari_*.json")):
        data = json.loads(path.read_text())
        if data.get("game") == game:
            runs.append((path.stem.removeprefix("atari_"), data))
    return sorted(runs, key=lambda run: (run[1]["date"], run[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="PongNoFrameskip-v4")
    parser.add_argument("--hours", type=float, default=3.0, help="wall-clock budget of this piece")
    parser.add_argument(
        "--target", type=float, help="the score to time (default: the game's in TARGETS, if any)"
    )
    parser.add_argument(
        "--algo", default="a3c", help="the paper's algorithm to train (a3c, q, sarsa, nstep_q)"
    )
    parser.add_argument(
        "--name", help="the run's name (default: the preset's name: the env's, plus .ALGO)"
    )
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/atari"))
    parser.add_argument("--report", type=Path, metavar="RUN_DIR", help="only report on a run")
    parser.add_argument(
        "--note",
        default="",
        help="a remark stored with the figures (default: the run's earlier one, when it resumes)",
    )
    parser.add_argument("overrides", nargs="*", help="extra `a3c train` options, after --")
    args = parser.parse_args()
    preset = env_preset_name(args.env) + ("" if args.algo == "a3c" else f".{args.algo}")
    name = args.name or (args.report.name if args.report else preset)
    run_dir = args.report or args.runs_dir / name
    target = args.target if args.target is not None else TARGETS.get(game_of(args.env))
    if args.report is None:
        check_same_env(run_dir, args.env, args.algo)
        overrides = [*(["--algo", args.algo] if args.algo != "a3c" else []), *args.overrides]
        status = train(args.env, run_dir, args.hours, overrides)
        print(f"a3c train exited with {status}")
    figures = report(run_dir, target)
    earlier = RESULTS / f"atari_{name.replace('/', '-')}.json"
    note = args.note or (json.loads(earlier.read_text()).get("note") if earlier.exists() else None)
    if note:  # a resumed piece keeps what the earlier ones said of the run
        figures["note"] = note
    save_results(RESULTS, f"atari_{name}", figures)
    print(f"wrote {plot_game(figures['game'])}")
    curve = figures.pop("curve")
    print(json.dumps(figures, indent=2))
    print("hours  steps      eval score")
    for hours, steps, score in curve:
        print(f"{hours:5.2f}  {steps:>9}  {score:6.1f}")


if __name__ == "__main__":
    main()
