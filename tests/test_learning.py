"""Real learning: the tuned CartPole preset reaches Gymnasium's threshold (last-100 mean 475)."""

from pathlib import Path

import pytest
from helpers import read_rows

from a3c import A3C


@pytest.mark.slow
def test_cartpole_preset_solves(tmp_path):
    agent = A3C("CartPole-v1", seed=0, run_dir=str(tmp_path), progress=False, tensorboard=False)
    agent.learn()
    summary = agent.summary
    assert summary.solved_step is not None, summary
    assert summary.best_mean_last100 >= 475
    # The preset stops the moment the training window crosses 475, which is all it promises: the
    # greedy policy at that instant usually scores 500, but not always (CI saw 440.8 once, and
    # 31.7 once), so its score is only checked to have been measured and logged.
    last = read_rows(Path(summary.run_dir) / "eval.csv")[-1]
    assert float(last["mean_return"]) == pytest.approx(summary.final_eval_mean, rel=1e-5)
    assert int(last["global_step"]) == summary.global_step


@pytest.mark.slow
def test_learns_with_threads_and_rmsprop_unshared(tmp_path):
    """The other paths: threads backend, one optimizer per worker."""
    agent = A3C(
        "CartPole-v1",
        seed=1,
        backend="threads",
        shared_optimizer=False,
        stop_at_return=195.0,
        run_dir=str(tmp_path),
        progress=False,
        tensorboard=False,
        total_steps=300_000,
    )
    agent.learn()
    assert agent.summary.solved_step is not None, agent.summary


@pytest.mark.slow
def test_lstm_solves_the_memory_task(tmp_path):
    """Velocity-hidden CartPole: the LSTM preset reaches 475 (the MLP's failure to is in
    benchmarks/RESULTS.md: `python -m benchmarks.memory_task`)."""
    agent = A3C(
        "a3c/CartPoleNoVelocity-v1",
        seed=0,
        run_dir=str(tmp_path),
        progress=False,
        tensorboard=False,
    )
    assert agent.model.is_recurrent and agent.observation_space.shape == (2,)
    agent.learn()
    assert agent.summary.solved_step is not None, agent.summary
    assert agent.summary.best_mean_last100 >= 475


@pytest.mark.slow
def test_state_dependent_noise_finds_the_mountain_car_flag(tmp_path):
    """gSDE's noise, drawn once per rollout, pushes the car the same way for a rollout at a time.
    On the processes backend (2026-12-05, 200k steps) it found the flag on 49 seeds of 50, the
    family's white noise on 29 of 40; the sync backend gives the same run on every machine
    (seeds 0-7 all solved with either noise, gSDE's seed 0 at 80k steps)."""
    agent = A3C(
        "MountainCarContinuous-v0",
        preset="defaults",
        std_mode="sde",
        init_log_std=-1.0,
        seed=0,
        backend="sync",
        total_steps=200_000,
        stop_at_return=90.0,
        run_dir=str(tmp_path),
        progress=False,
        tensorboard=False,
        eval_interval=0,
    ).learn()
    summary = agent.summary
    assert summary.solved_step is not None, summary
