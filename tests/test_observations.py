"""Observations end to end: non-finite values and the normaliser, image layouts."""

from pathlib import Path

import pytest
import torch

from a3c import A3C
from a3c.checkpoint import load_checkpoint
from a3c.trainer import TrainingError

FIXTURES = Path(__file__).parent / "fixtures"


def small_run(tmp_path, env_id, **overrides):
    return A3C(
        env_id,
        env_module="custom_envs",
        backend="sync",
        workers=2,
        envs_per_worker=2,
        n_steps=5,
        run_dir=str(tmp_path),
        run_name="r",
        progress=False,
        tensorboard=False,
        eval_interval=0,
        **overrides,
    )


def test_an_inf_observation_does_not_poison_the_normaliser(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    small_run(tmp_path, "InfObservation-v0", normalize_obs=True, total_steps=2_000).learn()
    saved = load_checkpoint(tmp_path / "r" / "checkpoints" / "final.pt")
    mean, var = saved["model"]["obs_rms.mean"], saved["model"]["obs_rms.var"]
    assert torch.isfinite(mean).all() and torch.isfinite(var).all()
    # Every 7th step's observation was dropped, the others merged.
    assert 0 < saved["model"]["obs_rms.count"].item() < saved["global_step"]
    assert saved["updates"] > 0


def test_a_rejected_update_leaves_the_normaliser_alone(tmp_path, monkeypatch):
    # Finite observations, NaN rewards: every update is rejected, and its observations with it.
    monkeypatch.syspath_prepend(str(FIXTURES))
    agent = small_run(tmp_path, "NanReward-v0", normalize_obs=True, max_bad_updates=5)
    with pytest.raises(TrainingError, match="5 consecutive non-finite updates"):
        agent.learn()
    saved = load_checkpoint(tmp_path / "r" / "checkpoints" / "final.pt")
    assert saved["updates"] == 0 and saved["global_step"] > 0
    assert saved["model"]["obs_rms.count"].item() == 0


def test_a_channel_last_image_env_trains(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    agent = small_run(tmp_path, "ChannelLastImage-v0", normalize_obs=True, total_steps=400)
    agent.learn()
    assert agent.summary.global_step >= 400 and agent.summary.updates > 0
    assert agent.model.body == "cnn" and agent.model.actor_body[0].in_channels == 3
    saved = load_checkpoint(tmp_path / "r" / "checkpoints" / "final.pt")
    assert saved["model"]["obs_rms.mean"].shape == (24, 24, 3)
    assert saved["model"]["obs_rms.count"].item() == saved["global_step"]
