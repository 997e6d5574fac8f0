"""The ``A3C`` constructor and ``load``: arguments combined as documented, the caller's RNG left
alone, a clear error for a wrong ``env``."""

import gymnasium as gym
import pytest
import torch

from a3c import A3C
from a3c.config import resolve_config


def weights(agent: A3C) -> list[torch.Tensor]:
    return [p.detach().clone() for p in agent.model.parameters()]


def test_config_with_overrides_and_env():
    config = resolve_config("CartPole-v1", workers=1, seed=3)
    agent = A3C(config=config, workers=3, lr=1e-3)
    assert (agent.config.workers, agent.config.lr, agent.config.seed) == (3, 1e-3, 3)
    assert agent.config.env_id == "CartPole-v1"
    assert agent.config.envs_per_worker == config.envs_per_worker  # the rest from the config
    assert config.workers == 1  # the caller's config is not changed

    agent = A3C("Acrobot-v1", config=config)
    assert agent.config.env_id == "Acrobot-v1" and agent.env.spec.id == "Acrobot-v1"
    assert agent.action_space == gym.spaces.Discrete(3)  # Acrobot's, not CartPole's
    assert agent.config.workers == 1


def test_config_with_preset_is_refused():
    config = resolve_config("CartPole-v1")
    with pytest.raises(ValueError, match="give a preset or a config, not both"):
        A3C(preset="seed-cartpole", config=config)


def test_config_with_an_unknown_or_invalid_override_is_refused():
    config = resolve_config("CartPole-v1")
    with pytest.raises(ValueError, match="unknown config field"):
        A3C(config=config, wrkers=3)
    with pytest.raises(ValueError, match=r"gamma=1\.5"):
        A3C(config=config, gamma=1.5)


def test_a_gym_env_instead_of_an_id_says_what_to_pass():
    env = gym.make("CartPole-v1")
    with pytest.raises(TypeError) as info:
        A3C(env)
    message = str(info.value)
    assert message == (
        "env must be a Gymnasium id, e.g. A3C('CartPole-v1'), or a callable that makes the "
        "environment, e.g. A3C(make_env) with def make_env(): return MyWrapper(gym.make(...)); "
        "not an instance of TimeLimit: every worker builds its own environments"
    )
    with pytest.raises(TypeError, match=r"not an instance of int"):
        A3C(3)


def test_constructing_leaves_the_global_rng_alone():
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    A3C("CartPole-v1", seed=5)
    assert torch.equal(torch.get_rng_state(), before)


def test_loading_leaves_the_global_rng_alone(tmp_path):
    agent = A3C("CartPole-v1", seed=5)
    path = agent.save(tmp_path / "a.pt")  # the checkpoint holds the RNG state of this moment
    torch.rand(10)  # the caller's stream moves on
    before = torch.get_rng_state()
    loaded = A3C.load(path)
    assert torch.equal(torch.get_rng_state(), before)
    for a, b in zip(weights(agent), weights(loaded), strict=True):
        assert torch.equal(a, b)


def test_initial_weights_follow_the_seed_not_the_callers_rng():
    torch.manual_seed(1)
    first = weights(A3C("CartPole-v1", seed=7))
    torch.manual_seed(2)
    torch.rand(100)
    second = weights(A3C("CartPole-v1", seed=7))
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    other = weights(A3C("CartPole-v1", seed=8))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
