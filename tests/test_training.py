"""Training runs end to end on every backend; sync runs are bit-for-bit reproducible; resume is
exact; checkpoints round-trip and refuse unsafe or foreign files."""

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import EVERY_BACKEND, read_rows, small_run

from a3c import A3C, evaluate_policy
from a3c.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint

FIXTURES = Path(__file__).parent / "fixtures"


def weights(agent):
    return torch.cat([p.detach().reshape(-1) for p in agent.model.parameters()])


@pytest.mark.parametrize("backend, start_method", EVERY_BACKEND)
def test_every_backend_trains_and_writes_the_run_directory(tmp_path, backend, start_method):
    agent = A3C("CartPole-v1", **small_run(tmp_path, backend=backend, start_method=start_method))
    before = weights(agent).clone()
    agent.learn()
    run = agent.run_dir
    assert agent.global_step >= 3_000 and agent.updates > 0
    assert not torch.equal(before, weights(agent))
    for name in (
        "config.json",
        "episodes.csv",
        "eval.csv",
        "updates.csv",
        "summary.json",
        "learning_curve.png",
        "checkpoints/final.pt",
    ):
        assert (run / name).exists(), name
    episodes = read_rows(run / "episodes.csv")
    assert episodes and {row["rank"] for row in episodes} == {"0", "1"}
    assert all(float(row["return"]) == float(row["length"]) for row in episodes)  # CartPole: +1
    evals = read_rows(run / "eval.csv")
    if backend == "sync":  # deterministic: each 1,000-step crossing, then the final evaluation
        assert [int(r["global_step"]) // 1000 for r in evals] == [1, 2, 3]
    else:  # a spawned evaluator may start after a run this short is over; the final one stays
        assert evals and int(evals[-1]["global_step"]) >= 3_000
    updates = read_rows(run / "updates.csv")
    assert updates and all(np.isfinite(float(r["loss/value"])) for r in updates)


def test_continuous_actions_train(tmp_path):
    agent = A3C("Pendulum-v1", **small_run(tmp_path, backend="sync", normalize_obs=True))
    agent.learn()
    assert agent.model.obs_rms.count.item() == agent.global_step
    action, state = agent.predict(np.zeros(3, dtype=np.float32))
    assert action.shape == (1,) and state is None and -2.0 <= action[0] <= 2.0


def test_sync_backend_is_bit_for_bit_reproducible(tmp_path):
    runs = [
        A3C("CartPole-v1", **small_run(tmp_path, backend="sync", seed=s)).learn() for s in (3, 3, 4)
    ]
    assert torch.equal(weights(runs[0]), weights(runs[1]))
    assert not torch.equal(weights(runs[0]), weights(runs[2]))
    ep = [
        [(r["rank"], r["return"]) for r in read_rows(a.run_dir / "episodes.csv")] for a in runs[:2]
    ]
    assert ep[0] == ep[1]


def test_resume_continues_step_count_optimizer_state_and_schedule(tmp_path):
    config = small_run(
        tmp_path, backend="sync", lr_schedule="linear", total_steps=2_000, run_name="run"
    )
    first = A3C("CartPole-v1", **config).learn()
    saved = load_checkpoint(first.run_dir / "checkpoints" / "final.pt")
    assert saved["global_step"] == first.global_step >= 2_000

    resumed = A3C.resume(first.run_dir, total_steps=4_000)
    assert resumed.global_step == saved["global_step"] and resumed.updates == saved["updates"]
    for name in ("square_avg",):
        for a, b in zip(resumed.optimizer_states[0][name], saved["optimizers"][0][name]):
            assert torch.equal(a, b)
    assert torch.equal(weights(resumed), weights(first))
    resumed.learn()
    assert resumed.global_step >= 4_000
    steps = [int(r["global_step"]) for r in read_rows(first.run_dir / "updates.csv")]
    assert max(steps) >= 4_000 and min(steps) < 2_000  # one log continued, not restarted
    # the schedule continued from the saved position: lr at the end is near zero, not lr0
    last_lr = float(read_rows(first.run_dir / "updates.csv")[-1]["lr"])
    assert last_lr < 0.1 * config.get("lr", 1e-3)


@pytest.mark.parametrize("schedule", ["constant", "linear"])
def test_entropy_schedule_gives_each_update_its_beta(tmp_path, monkeypatch, schedule):
    import a3c.worker

    a3c_loss, betas = a3c.worker.a3c_loss, []

    def recording_loss(*args, **kwargs):
        betas.append(args[6])  # a3c_loss(log_probs, entropies, values, returns, adv, vf, ent, ...)
        return a3c_loss(*args, **kwargs)

    monkeypatch.setattr(a3c.worker, "a3c_loss", recording_loss)
    config = small_run(
        tmp_path, backend="sync", ent_coef=0.01, ent_schedule=schedule, total_steps=2_000
    )
    A3C("CartPole-v1", **config).learn()
    # sync workers take turns: update k starts at global step k * n_steps * envs_per_worker
    batch = config["n_steps"] * config["envs_per_worker"]
    expected = [
        0.01 * (1 - k * batch / 2_000) if schedule == "linear" else 0.01 for k in range(len(betas))
    ]
    assert len(betas) == 2_000 // batch
    assert betas == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("gae_lambda", [1.0, 0.95])  # the paper's n-step return, and GAE
def test_normalize_advantage_standardises_each_updates_advantages_and_keeps_the_returns(
    tmp_path, monkeypatch, gae_lambda
):
    import a3c.worker
    from a3c.returns import standardized_advantages

    a3c_loss = a3c.worker.a3c_loss

    def updates_seen(normalize):
        seen = []

        def recording_loss(*args, **kwargs):
            seen.append((args[3].clone(), args[4].clone()))  # returns, advantages
            return a3c_loss(*args, **kwargs)

        monkeypatch.setattr(a3c.worker, "a3c_loss", recording_loss)
        config = small_run(
            tmp_path / str(normalize),
            backend="sync",
            normalize_advantage=normalize,
            gae_lambda=gae_lambda,
            total_steps=400,
        )
        A3C("CartPole-v1", **config).learn()
        return seen

    plain, standardized = updates_seen(False), updates_seen(True)
    assert len(plain) == len(standardized) == 40
    for _, advantages in standardized:
        assert float(advantages.mean()) == pytest.approx(0.0, abs=1e-5)
        assert float(advantages.std()) == pytest.approx(1.0, rel=1e-5)
    # the first update sees the same weights and the same rollout (the sync backend is exactly
    # reproducible): the same critic targets, and the advantages standardised
    torch.testing.assert_close(standardized[0][0], plain[0][0])
    torch.testing.assert_close(standardized[0][1], standardized_advantages(plain[0][1]))
    assert abs(float(plain[0][1].mean())) > 1e-3 or abs(float(plain[0][1].std()) - 1.0) > 1e-3


def test_resume_picks_the_newest_complete_checkpoint(tmp_path):
    agent = A3C("CartPole-v1", **small_run(tmp_path, backend="sync", run_name="r")).learn()
    folder = agent.run_dir / "checkpoints"
    (folder / "step_9999999999.pt").write_bytes(b"half-written")
    assert latest_checkpoint(agent.run_dir) == folder / "final.pt"


def test_save_load_round_trip_gives_the_same_actions(tmp_path):
    agent = A3C("CartPole-v1", **small_run(tmp_path, backend="sync")).learn()
    agent.save(tmp_path / "agent.pt")
    loaded = A3C.load(tmp_path / "agent.pt")
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    assert np.array_equal(
        agent.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )
    assert loaded.global_step == agent.global_step
    assert evaluate_policy(loaded, n_episodes=2) == evaluate_policy(agent, n_episodes=2)
    # The run directory that training printed, as `a3c eval` takes it: its newest checkpoint.
    from_run = A3C.load(agent.run_dir)
    assert from_run.global_step == agent.global_step
    assert np.array_equal(
        agent.predict(obs, deterministic=True)[0], from_run.predict(obs, deterministic=True)[0]
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"no checkpoint in .*empty/checkpoints"):
        A3C.load(tmp_path / "empty")


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    _Exploit.marker = marker
    path = tmp_path / "evil.pt"
    torch.save({"format": "a3c-checkpoint", "payload": _Exploit()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_truncated_and_foreign_files_give_clear_errors(tmp_path):
    agent = A3C("CartPole-v1", **small_run(tmp_path, backend="sync")).learn()
    good = (agent.run_dir / "checkpoints" / "final.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an a3c checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "pickle.pt").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "pickle.pt")


def test_checkpoint_for_another_network_is_refused(tmp_path):
    agent = A3C("CartPole-v1", **small_run(tmp_path, backend="sync", hidden_sizes=(16,)))
    agent.save(tmp_path / "a.pt")
    data = load_checkpoint(tmp_path / "a.pt")
    data["config"]["hidden_sizes"] = [32]
    torch.save(data, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="does not fit the network"):
        A3C.load(tmp_path / "b.pt")


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_custom_env_from_a_user_module_with_spawn(tmp_path, monkeypatch, start_method):
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(FIXTURES), *sys.path]))
    agent = A3C(
        "TwoStep-v0",
        **small_run(
            tmp_path,
            env_module="custom_envs",
            backend="processes",
            start_method=start_method,
            total_steps=1_000,
        ),
    )
    agent.learn()
    assert agent.global_step >= 1_000
    # Gymnasium's own "module:Env" form
    agent = A3C(
        "custom_envs:TwoStep-v0",
        **small_run(tmp_path, backend="processes", start_method=start_method, total_steps=500),
    )
    agent.learn()


def test_sb3_evaluate_policy_accepts_our_agent(tmp_path):
    sb3 = pytest.importorskip("stable_baselines3.common.evaluation")
    agent = A3C("CartPole-v1", **small_run(tmp_path, backend="sync")).learn()
    mean, std = sb3.evaluate_policy(agent, agent.env, n_eval_episodes=3, deterministic=True)
    assert mean > 0 and std >= 0


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_stop_threshold_agrees_with_the_chronological_episode_log(tmp_path, backend):
    """Workers report in batches; the monitor must still judge the true last-N window."""
    from benchmarks.presets import first_crossing

    agent = A3C(
        "CartPole-v1",
        **small_run(
            tmp_path,
            backend=backend,
            total_steps=200_000,
            log_interval=0.2,
            stop_at_return=60.0,
            stop_window=20,
        ),
    )
    agent.learn()
    summary = agent.summary
    assert summary.solved_step is not None and summary.global_step < 200_000
    times = [float(r["wall_time"]) for r in read_rows(agent.run_dir / "episodes.csv")]
    assert times == sorted(times)
    assert first_crossing(agent.run_dir, 60.0, window=20) == (
        pytest.approx(summary.solved_wall_time, abs=1e-3),
        summary.solved_step,
    )


@pytest.mark.parametrize("backend", ["sync", "threads"])
def test_a_failing_environment_fails_the_run_and_keeps_a_checkpoint(tmp_path, monkeypatch, backend):
    from a3c.trainer import TrainingError

    monkeypatch.syspath_prepend(str(FIXTURES))
    agent = A3C(
        "Crashing-v0",
        **small_run(tmp_path, env_module="custom_envs", backend=backend, run_name="crash"),
    )
    with pytest.raises(TrainingError, match=r"(?s)worker-.*environment exploded"):
        agent.learn()
    saved = load_checkpoint(tmp_path / "crash" / "checkpoints" / "final.pt")
    assert 0 < saved["global_step"] < 3_000


def test_a_report_with_episodes_but_no_update_is_logged_where_the_worker_was():
    from types import SimpleNamespace

    from a3c.worker import WorkerLog

    sent = []
    log = WorkerLog(rank=1, records=SimpleNamespace(put=sent.append), interval=1e9, start_time=0)
    loss = SimpleNamespace(policy=1.0, value=2.0, entropy=0.5)
    log.update(40, loss, grad_norm=0.3, lr=5e-4, applied=True, global_step=800)
    log.flush()
    # The worker fails mid-rollout: its last report brings an episode and no update.
    log.episodes([(9.0, 9)], global_step=820)
    log.flush()
    last = sent[-1][1]
    assert last["updates"] == 0 and last["steps"] == 0 and last["episodes"] == 1
    assert last["global_step"] == 820 and last["lr"] == 5e-4  # not step 0 and lr 0
