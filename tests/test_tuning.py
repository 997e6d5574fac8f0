"""a3c tune: a real Optuna study in SQLite, resumable; its preset trains as its best trial did;
its pruner stops a real run through a callback."""

import sqlite3

import pytest

optuna = pytest.importorskip("optuna", reason="the tune extra is not installed")

from a3c import A3C  # noqa: E402
from a3c.cli import main  # noqa: E402
from a3c.config import Config, load_preset  # noqa: E402
from a3c.tuning import _ReportToOptuna, suggest, to_config, tune  # noqa: E402

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
    assert first.params["lr"] == 1e-3 and first.params["n_steps"] == 5
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
    callback = _ReportToOptuna(trial, offset=10_000)
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
    assert [step for _, step in trial.reports] == [11_000, 12_000]  # offset by the seed's place
    assert agent.summary.stopped_by.startswith("_ReportToOptuna: pruned by Optuna")


def test_the_search_space_gives_valid_configs():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for continuous in (False, True, False, True):
        params = suggest(study.ask(), continuous)
        Config(**params).validate()
        assert ("init_log_std" in params) == continuous


def test_the_cli_tunes(tmp_path, capsys):
    argv = ["tune", "CartPole-v1", "--trials", "2", "--budget", "2000", "--dir", str(tmp_path)]
    assert main([*argv, "--backend", "sync", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 trials in" in out and f"--preset {tmp_path}/best.toml" in out
