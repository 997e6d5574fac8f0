"""a3c tune: a real Optuna study in SQLite, resumable; its preset trains as its best trial did;
its pruner stops a real run through a callback."""

import json
import sqlite3

import gymnasium as gym
import pytest

optuna = pytest.importorskip("optuna", reason="the tune extra is not installed")

from a3c import A3C  # noqa: E402
from a3c.cli import main  # noqa: E402
from a3c.config import Config, load_preset  # noqa: E402
from a3c.tuning import (  # noqa: E402
    _ReportToOptuna,
    gaussian_policy,
    search_space,
    starting_point,
    suggest,
    to_config,
    tune,
)

QUICK = dict(backend="sync", workers=1)  # fixed for every trial: small and deterministic


def test_a_tune_writes_a_study_a_preset_a_report_and_plots_and_resumes(tmp_path):
    result = tune("CartPole-v1", trials=3, budget=3_000, directory=tmp_path, **QUICK)
    assert result.trials == 3
    study = optuna.load_study(study_name="CartPole-v1", storage=f"sqlite:///{tmp_path}/study.db")
    values = [t.value for t in study.trials]
    assert result.best_value == max(values)
    # The first trial is the starting point: the env's preset (CartPole-v1's lr, n_steps...).
    first = study.trials[0]
    assert first.user_attrs["starting_point"] == "CartPole-v1"
    starting = load_preset("CartPole-v1")
    assert first.params["lr"] == starting["lr"] and first.params["n_steps"] == starting["n_steps"]
    assert result.baseline_value == first.value

    # The preset holds the best trial's settings on top of what the trials started from.
    best = study.best_trial
    preset = load_preset(str(tmp_path / "best.toml"))
    agent = A3C("CartPole-v1", preset=str(tmp_path / "best.toml"))
    for name, value in to_config(best.params).items():
        assert getattr(agent.config, name) == value, name
    assert preset["env_id"] == "CartPole-v1" and preset["total_steps"] == 3_000
    assert agent.config.stop_at_return == 475.0  # the CartPole preset's, kept
    assert agent.config.workers == 1 and agent.config.backend == "sync"  # the fixed settings

    report = (tmp_path / "report.md").read_text()
    assert f"best (trial {best.number})" in report and "Starting point (CartPole-v1" in report
    for plot in ("history.png", "importance.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Run again: the same study grows; the starting point is not enqueued twice.
    again = tune("CartPole-v1", trials=2, budget=3_000, directory=tmp_path, **QUICK)
    assert again.trials == 5
    with sqlite3.connect(tmp_path / "study.db") as db:
        assert db.execute("select count(*) from trials").fetchone()[0] == 5
    study = optuna.load_study(study_name="CartPole-v1", storage=f"sqlite:///{tmp_path}/study.db")
    assert sum("starting_point" in t.user_attrs for t in study.trials) == 1


class PruneAtSecond:
    """An Optuna trial's reporting interface, pruning at the second report."""

    def __init__(self) -> None:
        self.reports: list[tuple[float, int]] = []

    def report(self, value, step):
        self.reports.append((value, step))

    def should_prune(self):
        return len(self.reports) >= 2


def test_the_pruner_stops_a_real_run_at_its_evaluation(tmp_path):
    trial = PruneAtSecond()
    callback = _ReportToOptuna(trial, offset=10_000, interval=1_000)
    agent = A3C(
        "CartPole-v1",
        run_dir=str(tmp_path),
        progress=False,
        tensorboard=False,
        eval_interval=1_000,
        eval_episodes=2,
        total_steps=1_000_000,
        stop_at_return=None,
        **QUICK,
    ).learn(callback=callback)
    assert callback.pruned and agent.summary.global_step < 5_000
    # At the nominal steps (the multiples due), offset by the seed's place.
    assert [step for _, step in trial.reports] == [11_000, 12_000]
    assert agent.summary.stopped_by.startswith("_ReportToOptuna: pruned by Optuna")


def test_the_search_space_gives_valid_configs():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for continuous in (False, True, False, True):
        params = suggest(study.ask(), search_space(None, continuous))
        Config(**params).validate()
        assert ("init_log_std" in params) == continuous
    # a value-based study has no advantages to normalise: the knob is not searched
    q_config = A3C("CartPole-v1", preset="CartPole-v1.nstep_q").config
    assert "normalize_advantage" in search_space(None, False)
    assert "normalize_advantage" not in search_space(q_config, False)
    q_study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(4):
        params = suggest(q_study.ask(), search_space(q_config, False))
        Config(**{**vars(q_config), **params}).validate()


def test_the_gaussian_settings_are_searched_only_where_the_policy_has_a_gaussian():
    box = gym.spaces.Box(-1.0, 1.0, (2,))
    hybrid = gym.spaces.Tuple((gym.spaces.Discrete(2), box))
    assert gaussian_policy(Config(), box) and gaussian_policy(Config(), hybrid)
    assert not gaussian_policy(Config(), gym.spaces.Discrete(3))
    assert not gaussian_policy(Config(box_distribution="beta"), box)


def test_the_first_trial_is_exactly_the_starting_point_even_outside_the_space():
    # seed-pendulum: rmsprop_tf, a 200-unit network, gamma 0.9, n_steps 10: none in the space.
    config = A3C("Pendulum-v1", preset="seed-pendulum").config
    space = search_space(config, continuous=True, fixed=["lr"])
    assert "lr" not in space  # fixed: not searched
    start = starting_point(config, space)
    study = optuna.create_study()
    study.enqueue_trial(start)
    params = suggest(study.ask(), space)
    for name, value in params.items():
        assert getattr(config, name) == value, name


def test_fixed_fields_and_seeds_are_kept_and_what_tune_sets_is_refused(tmp_path):
    result = tune(
        "CartPole-v1", trials=2, budget=2_000, seeds=2, directory=tmp_path, lr=5e-4, seed=7, **QUICK
    )
    assert result.trials == 2 and "lr" not in result.best_params
    configs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("runs/*/config.json"))]
    assert len(configs) == 4
    assert {c["lr"] for c in configs} == {5e-4} and {c["seed"] for c in configs} == {7, 8}
    assert load_preset(str(tmp_path / "best.toml"))["lr"] == 5e-4
    with pytest.raises(ValueError, match=r"made with other settings.*budget"):
        tune(
            "CartPole-v1",
            trials=1,
            budget=3_000,
            seeds=2,
            directory=tmp_path,
            lr=5e-4,
            seed=7,
            **QUICK,
        )
    with pytest.raises(ValueError, match="sets total_steps itself"):
        tune("CartPole-v1", trials=1, budget=2_000, directory=tmp_path / "x", total_steps=10)


def test_the_cli_tunes(tmp_path, capsys):
    argv = ["tune", "CartPole-v1", "--trials", "2", "--budget", "2000", "--dir", str(tmp_path)]
    assert main([*argv, "--backend", "sync", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 trials in" in out and f"--preset {tmp_path}/best.toml" in out
