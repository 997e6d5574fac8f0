"""The suite benchmark: a3c against Stable-Baselines3 A2C and PPO, env after env, whole budgets.

    python -m benchmarks.suite classic --seeds 3
    python -m benchmarks.suite box2d --seeds 3 --resume
    python -m benchmarks.suite InvertedPendulum-v5 HalfCheetah-v5 --seeds 1
    python -m benchmarks.suite mujoco --seeds 3 --contenders a3c,a3c-defaults
    python -m benchmarks.suite LunarLanderContinuous-v3 --seeds 3 --sb3-time-limit 1200
    python -m benchmarks.suite CartPole-v1 --seeds 1 --budget-scale 0.01 --out-dir /tmp/suite

For each env of a family (``classic``, ``box2d``, ``mujoco``) or of a list of ids, each contender
trains the env's budget (the RL-Zoo A2C ``n_timesteps``; ``--budget-scale`` and ``--steps`` change
it for quick runs) once per seed, each run its own subprocess, one after another on this machine:

- **a3c**: ``A3C(env_id)``, which takes the env's bundled preset when there is one;
- **a3c-defaults**: ``A3C(env_id, preset="defaults")``, the family defaults and no preset, with
  ``--defaults-budget-factor`` (2) times the budget of the env's preset (its ``total_steps``;
  the zoo budget without one): the issue's target for them;
- **sb3-a2c**, **sb3-ppo**: Stable-Baselines3 with the RL-Zoo's hyper-parameters for the env
  (``benchmarks/peers.py``; SB3's defaults where the zoo has none), with ``--sb3-threads`` (1)
  PyTorch threads: SB3's fastest on 2 cores for these small networks, and several times faster
  than PyTorch's default of one per core when another process wants a core.

Nobody stops at the bar: every run trains its whole budget (an SB3 run at most
``--sb3-time-limit`` seconds, where a budget would take hours here: where runs cut short decide
the peer's median, a3c's time ratio to it is an upper bound), and the bar is where the mean
return of the last 100 *training* episodes first reached it (time from the trainer's start for
a3c, from the ``learn`` call for SB3). Then the final policy plays ``--eval-episodes`` (20)
deterministic episodes (``a3c.evaluate_policy``; SB3's ``evaluate_policy`` with the VecNormalize
statistics frozen). Each run writes its JSON, with date, command, machine, settings and learning
curve, to ``OUT/suite_runs/``; ``--resume`` skips the runs already there, so a suite can run in
pieces. Then, per family, everything in ``suite_runs`` is merged into ``OUT/suite_FAMILY.json``
and a PNG grid of learning curves, and benchmarks/RESULTS.md is regenerated.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.peers import zoo_hyperparameters
from benchmarks.report import RESULTS, measured, median_time, save_results
from benchmarks.time_to_solve import BENCHMARK_SETTINGS

WINDOW = 100  # training episodes averaged for the bar and the final score
CURVE_POINTS = 150  # points kept of each run's learning curve
CONTENDERS = ("a3c", "a3c-defaults", "sb3-a2c", "sb3-ppo")
# The preset each a3c contender asks for: the env's own (None) or the family defaults.
A3C_PRESETS: dict[str, str | None] = {"a3c": None, "a3c-defaults": "defaults"}
# What every a3c run sets on top of its preset, besides seed and budget: the benchmarks' settings,
# and no stop at the bar.
A3C_RUN_OVERRIDES: dict[str, Any] = dict(BENCHMARK_SETTINGS, stop_at_return=None)
FAMILIES = {
    "classic": "classic control",
    "box2d": "Box2D",
    "mujoco": "MuJoCo v5",
    "toy_text": "toy text",
}


@dataclass(frozen=True)
class SuiteEnv:
    """One env of the suite: its bar and the RL-Zoo's published scores (benchmark.md, one run
    each, deterministic evaluation; ``None`` where the zoo has none)."""

    env_id: str
    family: str
    bar: float
    zoo_a2c: float | None = None
    zoo_ppo: float | None = None
    bar_is_zoo_score: bool = False  # no threshold in the usual sense: the zoo's A2C score at 1M
    note: str = ""


SUITE: dict[str, SuiteEnv] = {
    e.env_id: e
    for e in (
        SuiteEnv("CartPole-v1", "classic", 475.0, 500.0, 500.0),
        SuiteEnv("Acrobot-v1", "classic", -100.0, -83.4, -73.5),
        SuiteEnv("MountainCar-v0", "classic", -110.0, -111.3, -110.4),
        SuiteEnv(
            "Pendulum-v1", "classic", -200.0, -163.0, -172.2, note="zoo A2C score: older config"
        ),
        SuiteEnv("MountainCarContinuous-v0", "classic", 90.0, 91.2, 88.3),
        SuiteEnv("LunarLander-v3", "box2d", 200.0, 155.8, 242.1, note="zoo scores: as -v2"),
        SuiteEnv(
            "LunarLanderContinuous-v3", "box2d", 200.0, 84.2, 270.9, note="zoo scores: as -v2"
        ),
        SuiteEnv("BipedalWalker-v3", "box2d", 300.0, 299.8, 287.9),
        SuiteEnv("InvertedPendulum-v5", "mujoco", 950.0),
        SuiteEnv("InvertedDoublePendulum-v5", "mujoco", 9100.0),
        SuiteEnv("Reacher-v5", "mujoco", -6.0),
        SuiteEnv(
            "Swimmer-v5", "mujoco", 200.0, 200.6, 281.6, note="zoo scores: as -v3; PPO's older"
        ),
        # Gymnasium's reward thresholds; CliffWalking has none: -13 is its shortest safe path.
        SuiteEnv("Taxi-v4", "toy_text", 8.0),
        SuiteEnv("FrozenLake-v1", "toy_text", 0.70),
        SuiteEnv("FrozenLake8x8-v1", "toy_text", 0.85),
        SuiteEnv("CliffWalking-v1", "toy_text", -13.0),
        SuiteEnv("HalfCheetah-v5", "mujoco", 3041.0, 3041.2, 5819.1, True, "zoo scores: as -v3"),
        SuiteEnv("Hopper-v5", "mujoco", 733.0, 733.5, 2410.4, True, "zoo scores: as -v3"),
        SuiteEnv("Walker2d-v5", "mujoco", 582.0, 581.8, 3478.8, True, "zoo scores: as -v3"),
        SuiteEnv("Ant-v5", "mujoco", -44.0, -44.0, 1327.2, True, "zoo scores: as -v3"),
    )
}


def zoo_budget(env_id: str) -> int:
    """The env's budget: the RL-Zoo A2C ``n_timesteps`` (1M, the zoo's default, where it has no
    A2C entry)."""
    return int(zoo_hyperparameters("a2c", env_id)["n_timesteps"])


def preset_budget(env_id: str) -> int:
    """The budget the env's own preset (as ``A3C(env_id)`` finds it) is meant for, its
    ``total_steps``; the zoo budget where the env has no preset."""
    from a3c.config import resolve_config

    config = resolve_config(env_id=env_id)
    return config.total_steps if config.preset is not None else zoo_budget(env_id)


def run_budget(
    contender: str,
    env_id: str,
    scale: float = 1.0,
    steps: int | None = None,
    defaults_factor: float = 2.0,
) -> int:
    """Steps one run of ``contender`` trains: ``steps`` (default: the zoo budget) times
    ``scale``; the family defaults ``defaults_factor`` times the preset's budget (the issue's
    "within 2x the preset's budget": LunarLander's preset is meant for 1M, five times the zoo's
    200k, where no setting measured reaches the bar)."""
    if contender == "a3c-defaults":
        return max(round((steps or preset_budget(env_id)) * scale * defaults_factor), 1)
    return max(round((steps or zoo_budget(env_id)) * scale), 1)


# --- one run ----------------------------------------------------------------------------------
def learning_curve(
    times: np.ndarray,
    steps: np.ndarray,
    returns: np.ndarray,
    threshold: float,
    window: int = WINDOW,
    points: int = CURVE_POINTS,
) -> dict[str, Any]:
    """What a run's training episodes (in the order they finished) say: when the mean of the
    last ``window`` first reached ``threshold`` (a full window only), the final and best such
    means, and the curve of the running mean (fewer episodes at the start) at ``points`` of them."""
    from a3c.plots import rolling_mean

    n = len(returns)
    means = rolling_mean(np.asarray(returns, dtype=float), window)
    full = np.arange(n) >= window - 1
    hits = np.flatnonzero(full & (means >= threshold))
    keep = np.unique(np.linspace(0, n - 1, min(points, n)).round().astype(int))
    return {
        "solved": bool(len(hits)),
        "time_to_solve_s": float(times[hits[0]]) if len(hits) else None,
        "steps_to_solve": int(steps[hits[0]]) if len(hits) else None,
        "episodes": n,
        "final_last100": float(means[-1]) if n >= window else None,
        "best_last100": float(means[full].max()) if n >= window else None,
        "curve": {
            "wall_time": [round(float(times[i]), 3) for i in keep],
            "steps": [int(steps[i]) for i in keep],
            "mean_return": [round(float(means[i]), 4) for i in keep],
        },
    }


def run_a3c_contender(
    env_id: str, seed: int, budget: int, eval_episodes: int, preset: str | None
) -> dict[str, Any]:
    """a3c for the whole budget (no stop at the bar), then a deterministic evaluation."""
    from a3c import evaluate_policy
    from a3c.evaluation import EVAL_SEED_OFFSET
    from a3c.plots import read_csv
    from benchmarks.time_to_solve import train_a3c

    overrides: dict[str, Any] = dict(A3C_RUN_OVERRIDES, seed=seed, total_steps=budget)
    if preset is not None:
        overrides["preset"] = preset
    with tempfile.TemporaryDirectory() as tmp:
        agent = train_a3c(env_id, run_dir=Path(tmp), **overrides)
        assert agent.run_dir is not None and agent.summary is not None
        episodes = read_csv(agent.run_dir / "episodes.csv")
    # Workers log as they go: the wall-time order is the order the episodes finished in.
    columns = [episodes.get(k, np.array([])) for k in ("wall_time", "global_step", "return")]
    order = np.argsort(columns[0], kind="stable")
    times, steps, returns = (c[order] for c in columns)
    curve = learning_curve(times, steps, returns, SUITE[env_id].bar)
    mean, std = evaluate_policy(agent, n_episodes=eval_episodes, seed=seed + EVAL_SEED_OFFSET)
    config = agent.config
    return {
        **curve,
        "wall_s": agent.summary.wall_time,
        "steps": agent.summary.global_step,
        "eval_mean": mean,
        "eval_std": std,
        "config": {
            "preset": config.preset,
            # the family whose defaults it got, where the library records one
            "family": getattr(config, "family", None),
            "workers": config.workers,
            "envs_per_worker": config.envs_per_worker,
        },
        "trained_config": config_json(config),
    }


def run_sb3_contender(
    env_id: str,
    seed: int,
    budget: int,
    eval_episodes: int,
    algo: str,
    torch_threads: int,
    time_limit_s: float | None = None,
) -> dict[str, Any]:
    """SB3 with the zoo's hyper-parameters for the whole budget, or until ``time_limit_s``
    seconds of training, then its evaluation; ``torch_threads`` intra-op threads (0: PyTorch's
    default)."""
    import torch

    from a3c.evaluation import EVAL_SEED_OFFSET
    from benchmarks.peers import evaluate_sb3, train_sb3

    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    run = train_sb3(
        algo,
        env_id,
        seed,
        budget,
        SUITE[env_id].bar,
        stop_at_threshold=False,
        time_limit_s=time_limit_s,
    )
    curve = learning_curve(
        np.array(run.times), np.array(run.steps), np.array(run.returns), SUITE[env_id].bar
    )
    mean, std = evaluate_sb3(run, env_id, eval_episodes, seed + EVAL_SEED_OFFSET)
    hp = zoo_hyperparameters(algo, env_id)
    return {
        **curve,
        "wall_s": run.wall_s,
        "steps": int(run.model.num_timesteps),
        "time_limited": run.time_limited,
        "eval_mean": mean,
        "eval_std": std,
        "config": {
            "n_envs": hp["n_envs"],
            "normalize": hp["normalize"],
            "zoo_n_timesteps": hp["n_timesteps"],
            "note": hp["note"],
            "torch_threads": torch.get_num_threads(),
        },
    }


def run_one(contender: str, env_id: str, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    budget, episodes = settings["budget"], settings["eval_episodes"]
    if contender in A3C_PRESETS:
        return run_a3c_contender(env_id, seed, budget, episodes, A3C_PRESETS[contender])
    if contender in ("sb3-a2c", "sb3-ppo"):
        algo = contender.removeprefix("sb3-")
        threads, limit = settings["torch_threads"], settings.get("time_limit_s")
        return run_sb3_contender(env_id, seed, budget, episodes, algo, threads, limit)
    raise ValueError(f"unknown contender {contender!r}: one of {', '.join(CONTENDERS)}")


# --- runs on disk -----------------------------------------------------------------------------
def run_path(out_dir: Path, env_id: str, contender: str, seed: int) -> Path:
    return out_dir / "suite_runs" / f"{env_id}__{contender}__s{seed}.json"


def settings_of(
    contender: str,
    env_id: str,
    budget: int,
    eval_episodes: int,
    torch_threads: int = 1,
    sb3_time_limit_s: float | None = None,
) -> dict[str, Any]:
    """What makes two runs of one (env, contender, seed) the same run: --resume compares it.
    SB3's intra-op threads and time limit (where it has one) are among them (a3c's workers take
    one thread each by design); a3c's are the whole config it trains with, so a run made before
    its preset or family defaults changed is not merged as if it were today's."""
    settings: dict[str, Any] = {"budget": budget, "eval_episodes": eval_episodes, "window": WINDOW}
    if contender.startswith("sb3-"):
        settings["torch_threads"] = torch_threads
        if sb3_time_limit_s:
            settings["time_limit_s"] = sb3_time_limit_s
    elif contender in A3C_PRESETS:
        settings["a3c_config"] = a3c_config(env_id, A3C_PRESETS[contender], budget)
    return settings


def a3c_config(env_id: str, preset: str | None, budget: int) -> dict[str, Any]:
    """The config ``A3C(env_id, preset=preset)`` trains a suite run with, as JSON (the seed
    aside: it is the run's own): the agent resolves it, family defaults included, untrained."""
    from a3c import A3C

    agent = A3C(env_id, preset=preset, **A3C_RUN_OVERRIDES, total_steps=budget)
    return config_json(agent.config)


def config_json(config: Any) -> dict[str, Any]:
    """An a3c ``Config`` as JSON, without what differs between runs of one setting (the
    schedule's horizon as the run uses it: the trainer fills in the budget)."""
    data = json.loads(json.dumps(config.replace(lr_anneal_steps=config.lr_horizon).to_dict()))
    for key in ("seed", "run_dir", "run_name"):
        data.pop(key, None)
    return data


def same_settings(made: dict[str, Any], planned: dict[str, Any]) -> bool:
    """Whether a run made with ``made`` is a run of ``planned``. A config option added to a3c
    after the run was made is missing from its settings; at its default it changes nothing, nor
    at the value runs had before it existed (``FIELDS_BEFORE``: no action mask read, say)."""
    from a3c import Config
    from a3c.config import FIELDS_BEFORE

    made_config, planned_config = made.get("a3c_config"), planned.get("a3c_config")
    if made_config is None or planned_config is None:
        return made == planned
    defaults = Config().to_dict()
    added = {
        key: value
        for key, value in planned_config.items()
        if key not in made_config
        and key in defaults
        and value in (defaults[key], FIELDS_BEFORE.get(key, defaults[key]))
    }
    return {**made, "a3c_config": {**made_config, **added}} == planned


def plan_runs(
    out_dir: Path, planned: list[tuple[str, str, int, dict[str, Any]]], resume: bool
) -> list[tuple[str, str, int, dict[str, Any]]]:
    """The runs still to make: all of them, or with ``resume`` those without a JSON in
    ``out_dir``. A JSON made with other settings is an error, not a run to merge or overwrite."""
    if not resume:
        return planned
    todo, clashes = [], []
    for env_id, contender, seed, settings in planned:
        path = run_path(out_dir, env_id, contender, seed)
        if not path.exists():
            todo.append((env_id, contender, seed, settings))
        elif not same_settings(made := json.loads(path.read_text())["settings"], settings):
            clashes.append(f"{path} ({made} != {settings})")
    if clashes:
        raise SystemExit(
            "--resume: runs already made with other settings (remove them or use another "
            "--out-dir):\n  " + "\n  ".join(clashes)
        )
    return todo


# --- merging --------------------------------------------------------------------------------
def median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def time_ratio(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> tuple[float | None, bool]:
    """Our median time to the bar over theirs, and whether that is only an upper bound.
    ``None`` unless both medians reached it (an unsolved seed counts as infinitely slow, as in
    ``benchmarks.time_to_solve``). A peer's run stopped by its time limit before the bar would
    have reached it later than the limit, if ever: counted at the limit instead of infinitely
    slow, the peer's median becomes a lower bound of the true one. Where that bound is below the
    median as measured, the runs cut short decide the median, and ours over the bound is an upper
    bound of the ratio (the conservative side: it never flatters a3c)."""
    a = median_time(ours)
    if a is None:
        return None, False
    lower = median_time(
        [
            {"solved": True, "time_to_solve_s": r["settings"]["time_limit_s"]}
            if not r["solved"] and r.get("time_limited")
            else r
            for r in theirs
        ]
    )
    if lower is None:
        return None, False
    return a / lower, lower != median_time(theirs)


def summarize(out_dir: Path, family: str) -> dict[str, Any] | None:
    """Every run of ``family`` in ``out_dir/suite_runs``, merged: per env and contender the runs
    (curves left out), the medians over seeds and the time ratios; ``None`` if it has none."""
    sources: list[dict[str, str]] = []
    envs = []
    for env in (e for e in SUITE.values() if e.family == family):
        contenders: dict[str, Any] = {}
        for contender in CONTENDERS:
            paths = sorted(
                (out_dir / "suite_runs").glob(f"{env.env_id}__{contender}__s*.json"),
                key=lambda p: int(p.stem.rsplit("__s", 1)[1]),
            )
            if not paths:
                continue
            rows = []
            for path in paths:
                run = json.loads(path.read_text())
                source = {k: run[k] for k in ("date", "command", "machine")}
                if source not in sources:
                    sources.append(source)
                rows.append(
                    {k: v for k, v in run.items() if k not in ("curve", *source)}
                    | {"source": sources.index(source) + 1}
                )
            solved = [r for r in rows if r["solved"]]
            contenders[contender] = {
                "runs": rows,
                "solved": len(solved),
                "median_time_s": median_time(rows),
                "median_steps": median_or_none([r["steps_to_solve"] for r in solved]),
                "median_final_last100": median_or_none([r["final_last100"] for r in rows]),
                "median_eval": median_or_none([r["eval_mean"] for r in rows]),
                "budgets": sorted({r["settings"]["budget"] for r in rows}),
            }
        if not contenders:
            continue
        ours = contenders.get("a3c", {}).get("runs", [])
        ratios, bounds = {}, []
        for peer in ("sb3-a2c", "sb3-ppo"):
            if peer in contenders and ours:
                ratios[peer], is_bound = time_ratio(ours, contenders[peer]["runs"])
                bounds += [peer] if is_bound else []
        envs.append(
            {
                "env": env.env_id,
                "bar": env.bar,
                "bar_is_zoo_score": env.bar_is_zoo_score,
                "zoo_budget": zoo_budget(env.env_id),
                "zoo_a2c": env.zoo_a2c,
                "zoo_ppo": env.zoo_ppo,
                # the budgets the published scores were trained with
                "zoo_budgets": {
                    f"sb3-{algo}": int(zoo_hyperparameters(algo, env.env_id)["n_timesteps"])
                    for algo in ("a2c", "ppo")
                },
                "note": env.note,
                "peer_notes": {
                    f"sb3-{algo}": zoo_hyperparameters(algo, env.env_id)["note"]
                    for algo in ("a2c", "ppo")
                },
                "contenders": contenders,
                "ratios": ratios,
                "ratio_bounds": bounds,  # peers whose ratio is an upper bound (time limit)
            }
        )
    if not envs:
        return None
    return {
        "family": family,
        "title": FAMILIES[family],
        "order": list(FAMILIES).index(family),
        **measured(),
        "sources": sources,
        "envs": envs,
    }


def plot_grid(out_dir: Path, summary: dict[str, Any], path: Path) -> None:
    """One panel per env: each run's last-100 training mean against steps, faint, and the
    median over seeds (where every seed has a value), bold; the bar dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = summary["envs"]
    cols = min(len(envs), 4)
    rows = -(-len(envs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(4 * cols, 6), 3 * rows), squeeze=False)
    for ax, env in zip(axes.flat, envs, strict=False):
        for i, contender in enumerate(CONTENDERS):
            if contender not in env["contenders"]:
                continue
            curves = []
            for row in env["contenders"][contender]["runs"]:
                run = json.loads(run_path(out_dir, env["env"], contender, row["seed"]).read_text())
                x, y = np.array(run["curve"]["steps"]), np.array(run["curve"]["mean_return"])
                # a3c's workers finish episodes a few steps out of order: interp wants order
                order = np.argsort(x, kind="stable")
                x, y = x[order], y[order]
                if len(x):
                    ax.plot(x, y, color=f"C{i}", alpha=0.25, linewidth=0.8)
                    curves.append((x, y))
            if curves:
                grid = np.linspace(0, max(x[-1] for x, _ in curves), 100)
                values = np.array(
                    [
                        np.where((grid >= x[0]) & (grid <= x[-1]), np.interp(grid, x, y), np.nan)
                        for x, y in curves
                    ]
                )
                every = ~np.isnan(values).any(axis=0)
                median = np.median(values[:, every], axis=0) if every.any() else []
                ax.plot(grid[every], median, color=f"C{i}", linewidth=1.8, label=contender)
        ax.axhline(env["bar"], color="k", linestyle="--", linewidth=0.8)
        ax.set_title(f"{env['env']} (bar {env['bar']:g})", fontsize=9)
        ax.set_xlabel("steps", fontsize=8)
        ax.set_ylabel("last-100 training mean", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(envs) :]:
        ax.axis("off")
    legend: dict[str, Any] = {}  # every contender once, whichever panels it ran in
    for ax in axes.flat:
        handles, labels = ax.get_legend_handles_labels()
        legend.update(zip(labels, handles, strict=True))
    fig.legend(
        list(legend.values()), list(legend), loc="lower center", ncol=len(legend), fontsize=8
    )
    fig.suptitle(f"{summary['title']}: medians over seeds (bold), each seed (faint)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- the command ----------------------------------------------------------------------------
def env_ids(names: list[str]) -> list[str]:
    """Families expanded to their envs in suite order, ids kept, duplicates dropped."""
    ids: list[str] = []
    for name in names:
        if name in FAMILIES:
            ids += [e.env_id for e in SUITE.values() if e.family == name]
        elif name in SUITE:
            ids.append(name)
        else:
            raise SystemExit(
                f"{name!r} is neither a family ({', '.join(FAMILIES)}) nor an env of the suite "
                f"({', '.join(SUITE)})"
            )
    return list(dict.fromkeys(ids))


def non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("envs", nargs="*", help=f"families ({', '.join(FAMILIES)}) or env ids")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument(
        "--steps", type=int, help="every env's budget, instead of its RL-Zoo A2C n_timesteps"
    )
    parser.add_argument(
        "--budget-scale", type=float, default=1.0, help="multiplies every budget (quick runs)"
    )
    parser.add_argument(
        "--defaults-budget-factor",
        type=float,
        default=2.0,
        help="a3c-defaults trains this many times the budget (the issue: within 2x the preset's)",
    )
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument(
        "--sb3-threads",
        type=int,
        default=1,
        help="PyTorch intra-op threads of the SB3 runs (0: PyTorch's default, one per core); "
        "1 is SB3's fastest on 2 cores for these small networks, many times so on a busy machine",
    )
    parser.add_argument(
        "--sb3-time-limit",
        type=non_negative,
        default=0.0,
        help="stop each SB3 run after this many seconds of training (0: none), for budgets that "
        "take hours here; a run cut short says so, and a3c's time ratio to a peer whose median "
        "is such a run becomes an upper bound",
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--resume", action="store_true", help="skip runs whose JSON is already in --out-dir"
    )
    parser.add_argument(  # one run, JSON on stdout (used internally)
        "--single", nargs=4, metavar=("CONTENDER", "ENV", "SEED", "JSON"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.single:
        contender, env_id, seed, settings = args.single
        print(json.dumps(run_one(contender, env_id, int(seed), json.loads(settings))))
        return
    if not args.envs:
        parser.error("give a family or env ids")
    contenders = args.contenders.split(",")
    unknown = set(contenders) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}: choose from {', '.join(CONTENDERS)}")

    ids = env_ids(args.envs)
    command = shlex.join(["python", "-m", "benchmarks.suite", *(argv or sys.argv[1:])])
    planned = []
    for env_id in ids:
        for contender in contenders:
            budget = run_budget(
                contender, env_id, args.budget_scale, args.steps, args.defaults_budget_factor
            )
            settings = settings_of(
                contender,
                env_id,
                budget,
                args.eval_episodes,
                args.sb3_threads,
                args.sb3_time_limit,
            )
            planned += [(env_id, contender, seed, settings) for seed in range(args.seeds)]
    todo = plan_runs(args.out_dir, planned, args.resume)
    print(
        f"{len(todo)} runs ({len(planned) - len(todo)} already made), "
        f"{sum(s['budget'] for *_, s in todo):,} steps in all; {measured()['machine']}",
        flush=True,
    )
    failed = []
    for env_id, contender, seed, settings in todo:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.suite",
                "--single",
                contender,
                env_id,
                str(seed),
                json.dumps(settings),
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            # Others go on: a long suite should not die of one run; a later --resume retries it.
            failed.append(f"{env_id} {contender} seed {seed}")
            print(f"  {env_id} {contender} seed {seed}: FAILED\n{out.stderr[-3000:]}", flush=True)
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        trained = row.pop("trained_config", None)
        if trained is not None and trained != settings["a3c_config"]:
            # The settings --resume compares would not be the run's: a bug here, not a result.
            failed.append(f"{env_id} {contender} seed {seed}")
            print(
                f"  {env_id} {contender} seed {seed}: FAILED: trained with another config "
                "than its settings say",
                flush=True,
            )
            continue
        run = {
            "env": env_id,
            "contender": contender,
            "seed": seed,
            "threshold": SUITE[env_id].bar,
            "settings": settings,
            **measured(),
            "command": command,
            **row,
        }
        path = run_path(args.out_dir, env_id, contender, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(run, indent=1) + "\n")
        reached = (
            f"bar at {row['time_to_solve_s']:.1f} s ({row['steps_to_solve']:,} steps)"
            if row["solved"]
            else "bar not reached"
        )
        last = "-" if row["final_last100"] is None else f"{row['final_last100']:.1f}"
        print(
            f"  {env_id} {contender} seed {seed}: {reached}; last-100 {last}, "
            f"eval {row['eval_mean']:.1f}; {row['steps']:,} steps in {row['wall_s']:.0f} s",
            flush=True,
        )
    for family in dict.fromkeys(SUITE[env_id].family for env_id in ids):
        summary = summarize(args.out_dir, family)
        if summary is None:
            continue
        stem = f"suite_{family}"
        report = save_results(args.out_dir, stem, summary)
        plot_grid(args.out_dir, summary, args.out_dir / f"{stem}.png")
        print(f"wrote {args.out_dir / stem}.json/.png and {report}")
        for env in summary["envs"]:
            ratios = ", ".join(
                f"a3c/{peer} {'-' if r is None else f'{r:.2f}'}"
                f"{' at most' if peer in env['ratio_bounds'] else ''}"
                for peer, r in env["ratios"].items()
            )
            print(f"  {env['env']}: median time to the bar {ratios or '(no pair)'}")
    if failed:
        raise SystemExit(f"{len(failed)} runs failed: {'; '.join(failed)}")


if __name__ == "__main__":
    main()
