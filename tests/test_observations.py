"""Observations end to end: non-finite values and the normaliser, image layouts."""

from pathlib import Path

import pytest
import torch
from helpers import small_run

from a3c import A3C
from a3c.checkpoint import load_checkpoint
from a3c.trainer import TrainingError

FIXTURES = Path(__file__).parent / "fixtures"


def sync_agent(tmp_path, env_id, **overrides):
    """A short sync-backend run of one of the fixture environments (custom_envs)."""
    settings = dict(env_module="custom_envs", backend="sync", run_name="r", eval_interval=0)
    return A3C(env_id, **small_run(tmp_path, **{**settings, **overrides}))


def test_an_inf_observation_does_not_poison_the_normaliser(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    sync_agent(tmp_path, "InfObservation-v0", normalize_obs=True, total_steps=2_000).learn()
    saved = load_checkpoint(tmp_path / "r" / "checkpoints" / "final.pt")
    mean, var = saved["model"]["obs_rms.mean"], saved["model"]["obs_rms.var"]
    assert torch.isfinite(mean).all() and torch.isfinite(var).all()
    # Every 7th step's observation was dropped, the others merged.
    assert 0 < saved["model"]["obs_rms.count"].item() < saved["global_step"]
    assert saved["updates"] > 0


def test_a_rejected_update_leaves_the_normaliser_alone(tmp_path, monkeypatch):
    # Finite observations, NaN rewards: every update is rejected, and its observations with it.
    monkeypatch.syspath_prepend(str(FIXTURES))
    agent = sync_agent(tmp_path, "NanReward-v0", normalize_obs=True, max_bad_updates=5)
    with pytest.raises(TrainingError, match="5 consecutive non-finite updates"):
        agent.learn()
    saved = load_checkpoint(tmp_path / "r" / "checkpoints" / "final.pt")
    assert saved["updates"] == 0 and saved["global_step"] > 0
    assert saved["model"]["obs_rms.count"].item() == 0


def test_a_channel_last_image_env_trains(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    # read as they come: the frames family would make them a grayscale stack (channels first)
    agent = sync_agent(
        tmp_path,
        "ChannelLastImage-v0",
        normalize_obs=True,
        total_steps=400,
        preprocess_frames="none",
    )
    agent.learn()
    assert agent.summary.global_step >= 400 and agent.summary.updates > 0
    assert agent.model.body == "cnn" and agent.model.actor_body[0].in_channels == 3
    saved = load_checkpoint(tmp_path / "r" / "checkpoints" / "final.pt")
    assert saved["model"]["obs_rms.mean"].shape == (24, 24, 3)
    assert saved["model"]["obs_rms.count"].item() == saved["global_step"]


def test_reward_normalisation_scales_by_the_shared_return_std_and_is_saved(tmp_path):
    # Pendulum pays -16 to 0 a step: returns in the hundreds.
    agent = sync_agent(
        tmp_path,
        "Pendulum-v1",
        env_module=None,
        total_steps=4_000,
        normalize_reward=True,
        gamma=0.99,
        reward_scale=1.0,
    ).learn()
    saved = load_checkpoint(tmp_path / "r" / "checkpoints" / "final.pt")
    # Every step's discounted return was merged once, from both workers, into one statistic.
    assert saved["model"]["return_rms.count"].item() == saved["global_step"]
    std = saved["model"]["return_rms.var"].sqrt().item()
    assert 20.0 < std < 2_000.0
    rewards = torch.tensor([-16.0, -1.0, 0.0])
    scaled = agent.model.scale_rewards(rewards)
    assert torch.allclose(scaled, rewards / std, rtol=1e-5)
    # Episode returns are reported unscaled: Pendulum's, in the hundreds.
    assert agent.summary.mean_last100 < -100
