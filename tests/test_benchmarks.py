"""The benchmark report turns the scripts' JSON into RESULTS.md tables and ratios; the suite
benchmark merges its runs, resumes, and runs end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from benchmarks import report, suite
from benchmarks.peers import _zoo_table, sb3_kwargs, zoo_hyperparameters
from benchmarks.report import median_time, write_report

REPO = Path(__file__).resolve().parent.parent


def test_unsolved_seeds_count_as_infinitely_slow():
    rows = [{"solved": True, "time_to_solve_s": t} for t in (3.0, 5.0)]
    assert median_time([*rows, {"solved": False, "time_to_solve_s": None}]) == 5.0
    assert median_time([*rows[:1], *[{"solved": False, "time_to_solve_s": None}] * 2]) is None


def test_report_lists_every_contender_and_ratio(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    run = {"solved": True, "time_to_solve_s": 4.0, "steps_to_solve": 1000}
    data = {
        "env": "CartPole-v1",
        "threshold": 475.0,
        "machine": "m",
        "date": "d",
        "runs": {
            "a3c": [run],
            "sb3-a2c": [
                dict(run, time_to_solve_s=20.0),
                {"solved": False, "time_to_solve_s": None, "steps_to_solve": None},
            ],
        },
        "ratios": {"sb3-a2c": 0.2},
    }
    (results / "time_to_solve_CartPole-v1.json").write_text(json.dumps(data))
    text = write_report(results).read_text()
    assert "| a3c | 1/1 | 4.0 | 1,000 | 4.0 |" in text
    assert "| sb3-a2c | 1/2 | inf" not in text and "20.0, unsolved" in text
    assert "**0.20** (5.0x sooner)" in text


# --- the throughput benchmark ----------------------------------------------------------------
def test_a_throughput_ratio_just_short_of_a_target_is_not_printed_as_the_target(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    data = {
        "env": "PongNoFrameskip-v4",
        "steps": 1000,
        "date": "2026-12-05",
        "machine": "2 CPU cores",
        "rows": [{"name": "a3c", "steps_per_s": 2364.1}, {"name": "raw", "steps_per_s": 4728.9}],
        "ratios": {"a3c / raw": 2364.1 / 4728.9, "raw / a3c": 4728.9 / 2364.1},
    }
    (results / "throughput_PongNoFrameskip-v4.json").write_text(json.dumps(data))
    text = write_report(results).read_text()
    assert "- a3c / raw: **0.499**" in text  # 0.49993, which two decimals would make 0.50
    assert "- raw / a3c: **2.000**" in text  # 2.00029


@pytest.mark.slow
def test_throughput_measures_the_raw_env_on_both_cores_at_once(tmp_path):
    """The raw ceiling of two cores is two real copies stepped side by side (their clocks start
    together, past their set-up), summed; the ratios are over the figures of the same run."""
    out = tmp_path / "results"
    args = ["--env", "CartPole-v1", "--steps", "3000", "--max-workers", "2", "--out-dir", str(out)]
    cmd = [sys.executable, "-m", "benchmarks.throughput", *args]
    temp = tmp_path / "temp"  # SB3's A2C runs in it: its logger left an empty folder there
    temp.mkdir()
    env = dict(os.environ, TMPDIR=str(temp))
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert not [path.name for path in temp.glob("SB3-*")]
    data = json.loads((out / "throughput_CartPole-v1.json").read_text())
    rows = {row["name"]: row["steps_per_s"] for row in data["rows"]}
    at_once = "raw env (same preprocessing), random actions, 2 processes at once, summed"
    one, both = rows["raw env (same preprocessing), random actions, 1 core"], rows[at_once]
    assert one > 0 and both > 0
    ratios = data["ratios"]
    assert ratios[f"a3c, 2 workers / {at_once}"] == rows["a3c, 2 workers"] / both
    assert ratios[f"{at_once} / (raw env x 2 cores)"] == both / (2 * one)
    assert at_once in (tmp_path / "RESULTS.md").read_text()


# --- the suite benchmark ---------------------------------------------------------------------
def _run_json(out_dir, env_id, contender, seed, times, budget=1000, **row):
    """A run's JSON as the suite writes it, with the fields the merge reads."""
    path = suite.run_path(out_dir, env_id, contender, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "env": env_id,
        "contender": contender,
        "seed": seed,
        "settings": suite.settings_of(contender, "CartPole-v1", budget, 20),
        "date": "2026-01-02",
        "machine": "m",
        "command": "python -m benchmarks.suite classic",
        "solved": times is not None,
        "time_to_solve_s": times,
        "steps_to_solve": None if times is None else int(times * 100),
        "final_last100": 0.0,
        "eval_mean": 0.0,
        "config": {"preset": None},
        "curve": {"steps": [0, budget], "mean_return": [0.0, 1.0]},
        **row,
    }
    path.write_text(json.dumps(data))
    return path


def test_learning_curve_bar_needs_a_full_window():
    # The first 10 episodes high (a partial window above the bar proves nothing), 90 low, then
    # 80 high: the mean of the last 100 first reaches 50 at episode 149 (50 of them high).
    returns = np.array([100.0] * 10 + [0.0] * 90 + [100.0] * 80)
    times = np.arange(180) * 0.5
    steps = np.arange(180) * 10
    out = suite.learning_curve(times, steps, returns, threshold=50.0, points=20)
    means = [returns[max(0, i - 99) : i + 1].mean() for i in range(180)]
    first = next(i for i in range(99, 180) if means[i] >= 50.0)
    assert means[0] == 100.0 and first == 149
    assert out["solved"] and out["time_to_solve_s"] == times[first]
    assert out["steps_to_solve"] == steps[first]
    assert out["final_last100"] == means[-1] == 80.0
    assert out["best_last100"] == max(means[99:]) == 80.0
    assert out["episodes"] == 180
    curve = out["curve"]
    assert curve["steps"][0] == 0 and curve["steps"][-1] == steps[-1] and len(curve["steps"]) == 20
    assert curve["mean_return"][0] == 100.0  # the running mean of what there is at the start
    short = suite.learning_curve(times[:50], steps[:50], returns[:50], threshold=0.0)
    assert not short["solved"] and short["final_last100"] is None  # never a full window
    assert suite.learning_curve(times[:0], steps[:0], returns[:0], 0.0)["curve"]["steps"] == []


def test_suite_median_counts_unsolved_seeds_and_ratios(tmp_path):
    for seed, t in enumerate([10.0, 30.0, None]):  # median of 10, 30, inf: 30
        _run_json(tmp_path, "Acrobot-v1", "a3c", seed, t, final_last100=-80.0 - seed)
    for seed, t in enumerate([50.0, 70.0, 60.0]):
        _run_json(tmp_path, "Acrobot-v1", "sb3-a2c", seed, t)
    for seed, t in enumerate([20.0, None, None]):  # median inf: no ratio
        _run_json(tmp_path, "Acrobot-v1", "sb3-ppo", seed, t)
    summary = suite.summarize(tmp_path, "classic")
    assert summary is not None and suite.summarize(tmp_path, "box2d") is None
    (env,) = summary["envs"]
    ours = env["contenders"]["a3c"]
    assert (ours["solved"], ours["median_time_s"], ours["median_steps"]) == (2, 30.0, 2000)
    assert ours["median_final_last100"] == -81.0
    assert [r["seed"] for r in ours["runs"]] == [0, 1, 2] and "curve" not in ours["runs"][0]
    assert env["ratios"] == {"sb3-a2c": 0.5, "sb3-ppo": None}
    assert env["bar"] == -100.0 and env["zoo_budget"] == 500_000
    assert summary["sources"] == [
        {"date": "2026-01-02", "command": "python -m benchmarks.suite classic", "machine": "m"}
    ]


def test_suite_report_has_a_ratio_row_per_env_a_peer_ran_on(tmp_path):
    _run_json(tmp_path / "both", "Acrobot-v1", "a3c", 0, 10.0, steps=1000)
    sb3_config = {"preset": None, "torch_threads": 1}
    _run_json(tmp_path / "both", "Acrobot-v1", "sb3-a2c", 0, 40.0, steps=1000, config=sb3_config)
    _run_json(tmp_path / "ours", "Acrobot-v1", "a3c", 0, 10.0, steps=1000)
    with_peer = "\n".join(report._suite(suite.summarize(tmp_path / "both", "classic"), "s"))
    assert "| Acrobot-v1 | 0.25 | n/a |" in with_peer
    alone = "\n".join(report._suite(suite.summarize(tmp_path / "ours", "classic"), "s"))
    assert "a3c / sb3-a2c" not in alone and "No SB3 run on these envs yet" in alone


def test_suite_report_gives_a_peer_that_did_not_run_its_published_score(tmp_path):
    """Where SB3 did not run on an env (MuJoCo's long runs), the table still sets a3c beside the
    zoo's published score at the zoo's budget, in a row that says it was not run here; a peer
    that ran gets no such row, and an env the zoo has no score for gets none either."""
    _run_json(tmp_path, "Hopper-v5", "a3c", 0, 10.0, steps=1000)
    _run_json(tmp_path, "HalfCheetah-v5", "a3c", 0, 10.0, steps=1000)
    sb3_config = {"preset": None, "torch_threads": 1}
    _run_json(tmp_path, "HalfCheetah-v5", "sb3-a2c", 0, 40.0, steps=1000, config=sb3_config)
    _run_json(tmp_path, "Reacher-v5", "a3c", 0, 10.0, steps=1000)
    text = "\n".join(report._suite(suite.summarize(tmp_path, "mujoco"), "s"))
    not_run = [row for row in text.splitlines() if row.startswith("|") and "not run here" in row]
    assert not_run == [
        "| HalfCheetah-v5 | 3041* | sb3-ppo (not run here: the zoo's published score) |"
        " 1,000,000 | - | - | - | - | - | 5,819.1 | zoo |",
        "| Hopper-v5 | 733* | sb3-a2c (not run here: the zoo's published score) | 1,000,000 |"
        " - | - | - | - | - | 733.5 | zoo |",
        "| Hopper-v5 | 733* | sb3-ppo (not run here: the zoo's published score) | 1,000,000 |"
        " - | - | - | - | - | 2,410.4 | zoo |",
    ]


def test_time_ratio():
    def rows(*times):
        return [{"solved": t is not None, "time_to_solve_s": t, "wall_s": 50.0} for t in times]

    assert suite.time_ratio(rows(2.0, 4.0, 3.0), rows(12.0, 6.0, 9.0)) == (3.0 / 9.0, False)
    assert suite.time_ratio(rows(2.0), rows(None)) == (None, False)  # theirs never reached it
    assert suite.time_ratio(rows(None, None, 1.0), rows(5.0)) == (None, False)


def test_a_peer_stopped_by_its_time_limit_bounds_the_ratio():
    """An SB3 run cut short before the bar would have reached it after its limit, if ever:
    counted there, the peer's median is a lower bound, and a3c's ratio over it an upper bound,
    reported as one wherever the runs cut short decide the median."""
    ours = [{"solved": True, "time_to_solve_s": t} for t in (10.0, 20.0, 30.0)]

    def theirs(*runs):  # (time to the bar or None, stopped by a limit of that many s or None)
        return [
            {
                "solved": t is not None,
                "time_to_solve_s": t,
                "time_limited": limit is not None,
                "settings": {} if limit is None else {"time_limit_s": limit},
            }
            for t, limit in runs
        ]

    # two cut unsolved at 100 s and 80 s, one solved at 60 s: the median is at least 80 s
    cut = theirs((None, 100.0), (60.0, None), (None, 80.0))
    assert suite.time_ratio(ours, cut) == (20.0 / 80.0, True)
    # a run that trained its whole budget without the bar stays infinitely slow
    assert suite.time_ratio(ours, theirs((None, None), (None, None), (None, 80.0))) == (
        None,
        False,
    )
    # the median as measured is 50, but the run cut at 10 s might have been the median one:
    # the ratio is at most 20 / 40, not 20 / 50
    assert suite.time_ratio(ours, theirs((40.0, None), (None, 10.0), (50.0, None))) == (
        20.0 / 40.0,
        True,
    )
    # cut runs that cannot move the median (cut after it) leave the ratio exact
    assert suite.time_ratio(ours, theirs((40.0, None), (None, 90.0), (50.0, None))) == (
        20.0 / 50.0,
        False,
    )
    # a run that reached the bar before it was cut keeps its time to the bar (30, not 35)
    assert suite.time_ratio(ours, theirs((30.0, 35.0), (None, 10.0), (50.0, None))) == (
        20.0 / 30.0,
        True,
    )
    assert suite.settings_of("sb3-a2c", "Acrobot-v1", 1000, 20, 1, 600.0)["time_limit_s"] == 600.0
    for no_limit in (None, 0.0):  # the command line's default is 0: no limit, as before
        assert "time_limit_s" not in suite.settings_of(
            "sb3-a2c", "Acrobot-v1", 1000, 20, 1, no_limit
        )
    assert "time_limit_s" not in suite.settings_of("a3c", "CartPole-v1", 1000, 20, 1, 600.0)


def test_the_report_marks_runs_stopped_by_the_time_limit_and_bounded_ratios(tmp_path):
    _run_json(tmp_path, "Acrobot-v1", "a3c", 0, 10.0, steps=1000)
    limited = suite.settings_of("sb3-a2c", "Acrobot-v1", 1000, 20, 1, 40.0)
    sb3_config = {"torch_threads": 1}
    row = dict(steps=300, wall_s=40.2, time_limited=True, settings=limited, config=sb3_config)
    _run_json(tmp_path, "Acrobot-v1", "sb3-a2c", 0, None, **row)
    summary = suite.summarize(tmp_path, "classic")
    (env,) = summary["envs"]
    assert env["ratios"] == {"sb3-a2c": 10.0 / 40.0} and env["ratio_bounds"] == ["sb3-a2c"]
    text = "\n".join(report._suite(summary, "s"))
    assert "| sb3-a2c | 1,000 (1 stopped at 40 s, after 300) | 0/1 |" in text
    assert "| Acrobot-v1 | <= 0.25 | n/a |" in text
    # --resume: the same limit resumes, another is another run
    planned = [("Acrobot-v1", "sb3-a2c", 0, limited)]
    assert suite.plan_runs(tmp_path, planned, resume=True) == []
    other = suite.settings_of("sb3-a2c", "Acrobot-v1", 1000, 20, 1, 50.0)
    with pytest.raises(SystemExit, match="other settings"):
        suite.plan_runs(tmp_path, [("Acrobot-v1", "sb3-a2c", 0, other)], resume=True)


def test_an_sb3_run_stops_at_its_time_limit():
    """A real SB3 run whose budget would take minutes, stopped by the limit after about 2 s."""
    import time

    from benchmarks.peers import train_sb3

    start = time.perf_counter()
    run = train_sb3("a2c", "CartPole-v1", 0, 10_000_000, 475.0, time_limit_s=2.0)
    assert run.time_limited and 2.0 <= run.wall_s < 10.0 and time.perf_counter() - start < 30.0
    assert 0 < run.model.num_timesteps < 10_000_000
    # a budget used up on the step the limit is checked is not a run cut short
    whole = train_sb3("a2c", "CartPole-v1", 0, 8, time_limit_s=1e-9)
    assert not whole.time_limited and whole.model.num_timesteps >= 8
    with pytest.raises(SystemExit):
        suite.main(["CartPole-v1", "--sb3-time-limit", "-5"])


def test_resume_skips_made_runs_and_refuses_other_settings(tmp_path):
    settings = suite.settings_of("a3c", "CartPole-v1", 1000, 20)
    planned = [("CartPole-v1", "a3c", seed, settings) for seed in range(3)]
    _run_json(tmp_path, "CartPole-v1", "a3c", 1, 5.0, budget=1000)
    assert suite.plan_runs(tmp_path, planned, resume=False) == planned
    assert suite.plan_runs(tmp_path, planned, resume=True) == [planned[0], planned[2]]
    _run_json(tmp_path, "CartPole-v1", "a3c", 2, 5.0, budget=2000)
    with pytest.raises(SystemExit, match="other settings"):
        suite.plan_runs(tmp_path, planned, resume=True)
    # SB3's thread count is a setting of its runs, not of a3c's
    sb3 = suite.settings_of("sb3-ppo", "CartPole-v1", 1000, 20, 2)
    assert sb3 == {"budget": 1000, "eval_episodes": 20, "window": 100, "torch_threads": 2}
    peer = [("CartPole-v1", "sb3-ppo", 0, suite.settings_of("sb3-ppo", "CartPole-v1", 1000, 20, 0))]
    _run_json(tmp_path, "CartPole-v1", "sb3-ppo", 0, 5.0, budget=1000)  # made with 1 thread
    with pytest.raises(SystemExit, match="other settings"):
        suite.plan_runs(tmp_path, peer, resume=True)


def test_an_a3c_run_made_before_its_preset_changed_is_not_resumed(tmp_path):
    settings = suite.settings_of("a3c", "CartPole-v1", 1000, 20)
    config = settings["a3c_config"]
    assert config["preset"] == "CartPole-v1" and config["total_steps"] == 1000
    assert "seed" not in config and config["stop_at_return"] is None  # the whole budget
    path = _run_json(tmp_path, "CartPole-v1", "a3c", 0, 5.0, budget=1000)
    planned = [("CartPole-v1", "a3c", 0, settings)]
    assert suite.plan_runs(tmp_path, planned, resume=True) == []
    # A run made before an option existed: at the option's default it is the same run
    run = json.loads(path.read_text())
    assert run["settings"]["a3c_config"]["cnn_precision"] == "float32"
    del run["settings"]["a3c_config"]["cnn_precision"]
    path.write_text(json.dumps(run))
    assert suite.plan_runs(tmp_path, planned, resume=True) == []
    bf16 = {**settings, "a3c_config": {**config, "cnn_precision": "bfloat16"}}
    with pytest.raises(SystemExit, match="other settings"):
        suite.plan_runs(tmp_path, [("CartPole-v1", "a3c", 0, bf16)], resume=True)
    # ... or at what runs did before it existed: no action mask was read (the planned value is
    # resolved, "none" here, not the default "auto"); a mask read is another run
    assert config["action_mask"] == "none"
    del run["settings"]["a3c_config"]["action_mask"]
    path.write_text(json.dumps(run))
    assert suite.plan_runs(tmp_path, planned, resume=True) == []
    masked = {**settings, "a3c_config": {**config, "action_mask": "info"}}
    with pytest.raises(SystemExit, match="other settings"):
        suite.plan_runs(tmp_path, [("CartPole-v1", "a3c", 0, masked)], resume=True)
    # The same run on disk, but trained when the preset's lr was another
    run["settings"]["a3c_config"]["lr"] = config["lr"] * 2
    path.write_text(json.dumps(run))
    with pytest.raises(SystemExit, match="other settings"):
        suite.plan_runs(tmp_path, planned, resume=True)
    # The family defaults: the config of the env's family, not of its preset
    defaults = suite.settings_of("a3c-defaults", "CartPole-v1", 1000, 20)["a3c_config"]
    assert defaults["preset"] is None and defaults["family"] == "discrete"


def test_suite_budgets_are_the_zoo_a2c_budgets():
    budgets = {env_id: suite.zoo_budget(env_id) for env_id in suite.SUITE}
    assert budgets == {
        "CartPole-v1": 500_000,
        "Acrobot-v1": 500_000,
        "MountainCar-v0": 1_000_000,
        "Pendulum-v1": 1_000_000,
        "MountainCarContinuous-v0": 100_000,
        "LunarLander-v3": 200_000,
        "LunarLanderContinuous-v3": 5_000_000,
        "BipedalWalker-v3": 5_000_000,
        **{e: 1_000_000 for e in budgets if e.endswith("-v5")},
        # the zoo has no toy text: its default
        **{e: 1_000_000 for e in ("Taxi-v4", "FrozenLake-v1", "FrozenLake8x8-v1")},
        "CliffWalking-v1": 1_000_000,
    }
    assert suite.run_budget("a3c", "CartPole-v1", scale=0.01) == 5_000
    assert suite.run_budget("a3c-defaults", "CartPole-v1", scale=0.01) == 10_000
    # the family defaults: twice the budget of the env's preset, not of the zoo
    assert suite.run_budget("a3c", "LunarLander-v3") == 200_000
    assert suite.run_budget("a3c-defaults", "LunarLander-v3") == 2 * 1_000_000
    assert suite.run_budget("a3c-defaults", "Acrobot-v1") == 2 * 300_000
    assert suite.preset_budget("Unpreset-Acrobot-v1") == 1_000_000  # no preset, no zoo entry
    assert suite.run_budget("sb3-ppo", "Acrobot-v1", steps=2_000, defaults_factor=3) == 2_000
    assert suite.run_budget("a3c-defaults", "Acrobot-v1", steps=2_000, defaults_factor=3) == 6_000
    # the zoo has no A2C entry for these: its default, said so
    assert "no A2C entry" in zoo_hyperparameters("a2c", "Reacher-v5")["note"]
    assert "Hopper-v4" in zoo_hyperparameters("ppo", "Hopper-v5")["note"]
    assert suite.env_ids(["box2d", "CartPole-v1", "LunarLander-v3"]) == [
        "LunarLander-v3",
        "LunarLanderContinuous-v3",
        "BipedalWalker-v3",
        "CartPole-v1",
    ]
    with pytest.raises(SystemExit, match="neither a family"):
        suite.env_ids(["atari"])


def test_every_zoo_entry_builds_an_sb3_model():
    """Each peer's hyper-parameters as SB3 takes them (schedules, policy_kwargs, gSDE), on the
    env itself where its dependency is installed, else a stand-in with the same action space."""
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.env_util import make_vec_env

    table = _zoo_table()
    assert {env_id for _, env_id in table} == set(suite.SUITE)
    for (algo, env_id), entry in table.items():
        try:
            gym.make(env_id).close()
            make_id = env_id
        except (gym.error.DependencyNotInstalled, ImportError):
            continuous = env_id not in ("LunarLander-v3",)  # Box2D/MuJoCo: all else Box
            make_id = "Pendulum-v1" if continuous else "CartPole-v1"
        env = make_vec_env(make_id, n_envs=entry["n_envs"], seed=0)
        model = (A2C if algo == "a2c" else PPO)(
            "MlpPolicy", env, seed=0, **sb3_kwargs(entry["kwargs"])
        )
        kwargs = entry["kwargs"]
        assert model.n_steps == kwargs.get("n_steps", 5 if algo == "a2c" else 2048)
        assert model.gamma == kwargs.get("gamma", 0.99)
        activation = kwargs.get("policy_kwargs", {}).get("activation_fn", "Tanh")
        assert type(model.policy.mlp_extractor.policy_net[1]).__name__ == activation
        env.close()


def _defaults_preset_available() -> bool:
    from a3c.config import resolve_config

    try:
        resolve_config("CartPole-v1", "defaults")
    except ValueError:
        return False
    return True


@pytest.mark.slow
def test_suite_smoke_run_writes_runs_summary_plot_and_report(tmp_path):
    # All contenders, a3c-defaults once the library has `preset="defaults"`.
    with_defaults = _defaults_preset_available()
    contenders = [c for c in suite.CONTENDERS if c != "a3c-defaults" or with_defaults]
    out = tmp_path / "results"
    args = ["CartPole-v1", "--seeds", "1", "--budget-scale", "0.004", "--eval-episodes", "2"]
    args += ["--contenders", ",".join(contenders), "--out-dir", str(out)]
    cmd = [sys.executable, "-m", "benchmarks.suite", *args]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    command = "python -m benchmarks.suite " + " ".join(args)
    for contender in contenders:
        run = json.loads(suite.run_path(out, "CartPole-v1", contender, 0).read_text())
        budget = suite.run_budget(contender, "CartPole-v1", scale=0.004)
        assert run["settings"] == suite.settings_of(
            contender, "CartPole-v1", budget, 2, torch_threads=1
        )
        assert run["settings"]["eval_episodes"] == 2 and run["settings"]["budget"] == budget
        assert run["command"] == command and run["date"] and "CPU cores" in run["machine"]
        assert budget <= run["steps"] < budget + 1_000  # the whole budget: nobody stops early
        assert run["episodes"] > 0 and len(run["curve"]["steps"]) == min(run["episodes"], 150)
        # SB3's episodes finish in step order; a3c's workers only nearly so
        steps = run["curve"]["steps"]
        assert steps == sorted(steps) or contender.startswith("a3c")
        for key in ("solved", "time_to_solve_s", "steps_to_solve", "final_last100", "wall_s"):
            assert key in run
        assert 8 <= run["eval_mean"] <= 500  # CartPole's returns, whatever the policy
    summary = json.loads((out / "suite_classic.json").read_text())
    (env,) = summary["envs"]
    assert list(env["contenders"]) == contenders and env["bar"] == 475.0
    assert set(env["ratios"]) == {"sb3-a2c", "sb3-ppo"}
    assert (out / "suite_classic.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "RESULTS.md").read_text()
    assert "### Suite: classic control" in report and f"`{command}`" in report
    ran = json.loads(suite.run_path(out, "CartPole-v1", "a3c", 0).read_text())["steps"]
    steps = "2,000" + (f" (ran {ran:,})" if ran > 2_020 else "")  # a3c ends its last rollouts
    assert f"| CartPole-v1 | 475 | a3c (preset CartPole-v1) | {steps} | 0/1 |" in report
    assert "![classic control](results/suite_classic.png)" in report

    # Resumed: nothing left to run, the merge and the report made again.
    again = subprocess.run([*cmd, "--resume"], cwd=REPO, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"0 runs ({len(contenders)} already made)")


def test_an_atari_run_resumes_only_as_its_own_env_and_algorithm(tmp_path):
    from benchmarks.atari import check_same_env, settings_of

    (tmp_path / "config.json").write_text(
        json.dumps({"env_id": "PongNoFrameskip-v4", "algo": "nstep_q"})
    )
    check_same_env(tmp_path, "PongNoFrameskip-v4", "nstep_q")
    check_same_env(tmp_path / "new", "BreakoutNoFrameskip-v4")  # no run there yet
    with pytest.raises(SystemExit, match="another env"):
        check_same_env(tmp_path, "BreakoutNoFrameskip-v4", "nstep_q")
    with pytest.raises(SystemExit, match="a run of nstep_q"):
        check_same_env(tmp_path, "PongNoFrameskip-v4")
    # a run from before --algo: its config has no "algo", and it was A3C's
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(json.dumps({"env_id": "PongNoFrameskip-v4"}))
    check_same_env(old, "PongNoFrameskip-v4")
    with pytest.raises(SystemExit, match="a run of a3c"):
        check_same_env(old, "PongNoFrameskip-v4", "nstep_q")
    # each algorithm's figures are shown with its own settings
    assert "target_interval" in settings_of({"algo": "nstep_q"})
    assert "ent_coef" in settings_of({}) and "target_interval" not in settings_of({})


def test_cnn_feature_spread_is_zero_for_one_frame_and_grows_with_different_frames():
    """The diagnostic's spread: 0 where every frame is the same, above 0 for frames of play;
    its random-play frames are the agent's own observations, the same on every call."""
    pytest.importorskip("ale_py")
    from a3c import A3C
    from benchmarks.cnn_features import ENV_ID, feature_stats, random_play_frames

    agent = A3C(ENV_ID, seed=0, tensorboard=False, progress=False)
    frames = random_play_frames(agent, 40)
    assert frames.shape == (40, *agent.observation_space.shape)
    assert torch.equal(frames, random_play_frames(agent, 40))
    same = feature_stats(agent, frames[:1].expand(8, *frames.shape[1:]))
    assert same["spread"] == pytest.approx(0.0, abs=1e-6)
    played = feature_stats(agent, frames)
    assert played["spread"] > 0.001 and played["norm"] > 0
    assert played["width"] == 256 and 0 <= played["dead"] < 256
