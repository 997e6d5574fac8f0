"""Callbacks see what the logs get, in the trainer's process, and stop real runs."""

import multiprocessing
from pathlib import Path

import pytest
from helpers import read_rows, small_run

from a3c import A3C
from a3c.callbacks import (
    Callback,
    CallbackList,
    Evaluation,
    StopOnNoImprovement,
    StopOnRewardThreshold,
)
from a3c.checkpoint import load_checkpoint


class Recorder(Callback):
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.episodes, self.updates, self.evaluations, self.checkpoints = [], [], [], []
        self.summary = None

    def on_training_start(self, config, run_dir):
        self.calls.append("start")
        self.run_dir = run_dir

    def on_episode(self, episode):
        self.episodes.append(episode)

    def on_update(self, stats):
        self.updates.append(stats)

    def on_evaluation(self, evaluation):
        self.evaluations.append(evaluation)

    def on_checkpoint(self, path, global_step):
        assert path.exists()  # written before the call
        self.checkpoints.append((path, global_step))

    def on_training_end(self, summary):
        self.calls.append("end")
        self.summary = summary


@pytest.mark.parametrize("backend", ["sync", "threads", "processes"])
def test_a_callback_sees_what_the_logs_get(tmp_path, backend):
    recorder = Recorder()
    agent = A3C("CartPole-v1", **small_run(tmp_path, backend=backend, total_steps=6_000))
    agent.learn(callback=recorder)
    run = agent.run_dir
    assert recorder.calls == ["start", "end"] and recorder.run_dir == run
    assert recorder.summary == agent.summary and agent.summary.stopped_by is None

    # Episodes: every row of episodes.csv, in its (chronological) order; the last few come as
    # the logs close.
    rows = read_rows(run / "episodes.csv")
    seen = recorder.episodes
    assert 0 < len(seen) == len(rows)
    for episode, row in zip(seen, rows, strict=False):
        assert episode.global_step == int(row["global_step"])
        assert episode.rank == int(row["rank"])
        assert episode.episode_return == pytest.approx(float(row["return"]), rel=1e-5)
        assert episode.length == int(row["length"])
    assert [e.wall_time for e in seen] == sorted(e.wall_time for e in seen)

    assert len(recorder.updates) == len(read_rows(run / "updates.csv"))
    assert {u["rank"] for u in recorder.updates} == {0, 1}
    assert all("finished" not in u and "loss/policy" in u for u in recorder.updates)

    evals = read_rows(run / "eval.csv")
    assert [e.global_step for e in recorder.evaluations] == [int(r["global_step"]) for r in evals]
    assert [e.final for e in recorder.evaluations] == [False] * (len(evals) - 1) + [True]

    saved = sorted((run / "checkpoints").glob("step_*.pt"))
    assert sorted(p for p, _ in recorder.checkpoints) == saved and len(saved) >= 2
    for path, step in recorder.checkpoints:
        assert load_checkpoint(path)["global_step"] == step


class StopAfterEpisodes(Callback):
    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def on_episode(self, episode):
        self.seen += 1
        if self.seen >= self.n:
            self.stop_reason = f"{self.n} episodes"
            return False
        return None


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_returning_false_stops_the_run_like_its_end(tmp_path, backend):
    agent = A3C("CartPole-v1", **small_run(tmp_path, backend=backend, total_steps=2_000_000)).learn(
        callback=[Recorder(), StopAfterEpisodes(20)]
    )
    summary = agent.summary
    # Stopped long before 2M steps, and ended as a run does: final checkpoint, final evaluation.
    assert summary.global_step < 100_000
    assert summary.stopped_by == "StopAfterEpisodes: 20 episodes"
    assert summary.final_eval_mean is not None
    final = load_checkpoint(agent.run_dir / "checkpoints" / "final.pt")
    assert final["global_step"] == summary.global_step


def test_stop_on_reward_threshold_stops_a_learning_run_at_a_greedy_evaluation(tmp_path):
    agent = A3C(
        "CartPole-v1",
        seed=0,
        run_dir=str(tmp_path),
        progress=False,
        tensorboard=False,
        stop_at_return=None,
        total_steps=1_000_000,
        eval_interval=10_000,
        checkpoint_interval=0,
    ).learn(callback=StopOnRewardThreshold(300))
    summary = agent.summary
    evals = read_rows(agent.run_dir / "eval.csv")
    during = [float(r["mean_return"]) for r in evals[:-1]]
    # It stopped at the first evaluation that reached 300 (one more may have been under way when
    # the stop went out), not before, and well before 1M steps.
    first = next(i for i, mean in enumerate(during) if mean >= 300)
    assert len(during) - 1 - first <= 1
    assert summary.global_step < 1_000_000
    assert summary.stopped_by.startswith("StopOnRewardThreshold: evaluation mean")


def test_stop_on_no_improvement_counts_evaluations_without_progress():
    stop = StopOnNoImprovement(patience=2, min_evaluations=1, min_delta=1.0)

    def evaluation(step: int, mean: float) -> Evaluation:
        return Evaluation(0.0, step, mean, 0.0, 10.0, 5)

    # 10 (first: best); 10.5 (not by more than 1); 20 (best); 20; 19 -> two without improvement
    verdicts = [stop.on_evaluation(evaluation(i, m)) for i, m in enumerate([10, 10.5, 20, 20, 19])]
    assert verdicts == [None, None, None, None, False]
    assert stop.best == 20 and "2 evaluations without improving on 20" in stop.stop_reason
    # min_evaluations: the first evaluations do not count against patience
    late = StopOnNoImprovement(patience=1, min_evaluations=3)
    assert [late.on_evaluation(evaluation(i, 5)) for i in range(4)] == [None, None, None, False]
    with pytest.raises(ValueError, match="patience"):
        StopOnNoImprovement(patience=0)


def test_stop_on_no_improvement_stops_a_run_that_does_not_learn(tmp_path):
    # lr 1e-12: the greedy policy does not change and evaluations on the same seeds score the
    # same, so the run stops at the third evaluation (the first sets the best, two fail to beat
    # it).
    agent = A3C(
        "CartPole-v1",
        **small_run(tmp_path, total_steps=1_000_000, lr=1e-12, eval_interval=2_000),
    ).learn(callback=StopOnNoImprovement(patience=2))
    evals = read_rows(agent.run_dir / "eval.csv")
    assert len({r["mean_return"] for r in evals}) == 1
    # Three during training (a fourth may have been under way when the stop went out), the final.
    assert 4 <= len(evals) <= 5
    assert agent.summary.global_step < 50_000
    assert agent.summary.stopped_by.startswith("StopOnNoImprovement: 2 evaluations")


class FalseOnlyAtTheEnd(Callback):
    def on_training_start(self, config, run_dir):
        return False  # not a hook that can stop anything

    def on_evaluation(self, evaluation):
        return False if evaluation.final else None


def test_answers_after_the_end_stop_nothing_and_are_not_the_reason(tmp_path):
    agent = A3C("CartPole-v1", **small_run(tmp_path)).learn(callback=FalseOnlyAtTheEnd())
    assert agent.summary.global_step >= 3_000 and agent.summary.stopped_by is None


class Broken(Callback):
    def on_update(self, stats):
        if stats["global_step"] > 1_000:
            raise RuntimeError("a bug in the user's callback")


def test_an_exception_in_a_callback_ends_the_run_and_reaches_the_caller(tmp_path):
    agent = A3C("CartPole-v1", **small_run(tmp_path, total_steps=2_000_000))
    with pytest.raises(RuntimeError, match="a bug in the user's callback"):
        agent.learn(callback=Broken())
    # The workers were stopped and the state saved on the way out.
    assert multiprocessing.active_children() == []
    final = load_checkpoint(Path(agent.run_dir) / "checkpoints" / "final.pt")
    assert final["global_step"] < 100_000


def test_only_callbacks_are_taken():
    with pytest.raises(TypeError, match="subclass Callback"):
        CallbackList([lambda locals_, globals_: True])


def test_the_shipped_callbacks_are_config_fields_too(tmp_path):
    # From the command line: --stop-patience 2 on a run that cannot improve (lr 1e-12).
    settings = small_run(tmp_path, total_steps=1_000_000, lr=1e-12, eval_interval=2_000)
    agent = A3C("CartPole-v1", stop_patience=2, **settings).learn()
    assert agent.summary.global_step < 50_000
    assert agent.summary.stopped_by.startswith("StopOnNoImprovement: 2 evaluations")
    # --stop-at-eval-return: any first evaluation reaches 0 on CartPole.
    agent = A3C("CartPole-v1", stop_at_eval_return=0.0, **settings).learn()
    assert agent.summary.stopped_by.startswith("StopOnRewardThreshold: evaluation mean")
    with pytest.raises(ValueError, match=r"stop_patience.*eval_interval"):
        A3C("CartPole-v1", stop_patience=3, eval_interval=0)
