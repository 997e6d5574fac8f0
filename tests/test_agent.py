"""The ``A3C`` constructor and ``load``: arguments combined as documented, the caller's RNG left
alone, a clear error for a wrong ``env``."""

import re

import gymnasium as gym
import numpy as np
import pytest
import torch

from a3c import A3C, evaluate_policy
from a3c.cli import main
from a3c.config import resolve_config
from a3c.spaces import HashedWords, layout, same_layout


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


def test_another_environment_that_observes_or_acts_otherwise_is_one_line(tmp_path, capsys):
    """A policy played on, or trained on, an environment whose observations or actions are not
    those it learned on is refused where it is named, in one line with both layouts: before,
    it was a reshape error in the network's forward pass (or in every worker). Another version
    of the same environment (CartPole-v0: the same layout) is taken."""
    path = A3C("CartPole-v1", seed=0).save(tmp_path / "a.pt")
    observations = "Acrobot-v1's observations are Box(6,), the policy's were Box(4,)"
    with pytest.raises(ValueError, match=re.escape(observations)):
        A3C.load(path, env_id="Acrobot-v1")
    assert A3C.load(path, env_id="CartPole-v0").env_factory.env_id == "CartPole-v0"
    agent = A3C.load(path)
    with pytest.raises(ValueError, match=re.escape(observations)):
        evaluate_policy(agent, "Acrobot-v1", n_episodes=1)
    with pytest.raises(ValueError, match=re.escape(observations)):
        evaluate_policy(agent, gym.make("Acrobot-v1"), n_episodes=1)
    three_actions = gym.make("CartPole-v1")
    three_actions.action_space = gym.spaces.Discrete(3)
    with pytest.raises(ValueError, match=re.escape("actions are Discrete(3), the policy's were")):
        evaluate_policy(agent, three_actions, n_episodes=1)
    # The policy would hand out 0 and 1, which Discrete(2, start=1) has not.
    shifted = gym.make("CartPole-v1")
    shifted.action_space = gym.spaces.Discrete(2, start=1)
    with pytest.raises(ValueError, match=re.escape("are Discrete(2, start=1), the policy's were")):
        evaluate_policy(agent, shifted, n_episodes=1)
    evaluate_policy(agent, "CartPole-v0", n_episodes=1)

    assert main(["eval", str(path), "--env", "MountainCar-v0", "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert "a3c: error: MountainCar-v0's observations are Box(2,), the policy's were Box(4,)" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "learned, given, same, same_values, shown, plain",
    [
        (
            gym.spaces.Box(-1, 1, (3,)),
            gym.spaces.Box(-5, 5, (3,)),
            True,
            False,
            "Box(3,) in [-5.0, 5.0]",
            "Box(3,)",
        ),
        (
            gym.spaces.Box(0, 255, (2, 4), np.uint8),
            gym.spaces.Box(0, 1, (2, 4)),
            False,
            False,
            "Box(2, 4) in [0.0, 1.0]",
            "Box(2, 4)",
        ),
        (
            gym.spaces.Discrete(3),
            gym.spaces.Discrete(3, start=-1),
            True,
            False,
            "Discrete(3, start=-1)",
            "Discrete(3)",
        ),
        (gym.spaces.Discrete(3), gym.spaces.Discrete(3), True, True, "Discrete(3)", "Discrete(3)"),
        (
            gym.spaces.MultiDiscrete([2, 3]),
            gym.spaces.MultiDiscrete([3, 2]),
            False,
            False,
            "MultiDiscrete([3, 2])",
            "MultiDiscrete([3, 2])",
        ),
        (
            gym.spaces.MultiDiscrete([2, 3]),
            gym.spaces.MultiDiscrete([2, 3], start=[0, 1]),
            True,
            False,
            "MultiDiscrete([2, 3], start=[0, 1])",
            "MultiDiscrete([2, 3])",
        ),
        (
            gym.spaces.MultiBinary(4),
            gym.spaces.MultiBinary(4),
            True,
            True,
            "MultiBinary(4)",
            "MultiBinary(4)",
        ),
        (
            gym.spaces.Dict(
                a=gym.spaces.Discrete(2), b=gym.spaces.Box(0, 255, (7, 7, 3), np.uint8)
            ),
            gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Box(0, 255, (7, 7, 3), np.uint8))),
            True,
            True,
            "Tuple(Discrete(2), Box(7, 7, 3) uint8 in [0, 255])",
            "Tuple(Discrete(2), Box(7, 7, 3) uint8)",
        ),
        (
            gym.spaces.Discrete(2),
            gym.spaces.Box(0, 1, (2,)),
            False,
            False,
            "Box(2,) in [0.0, 1.0]",
            "Box(2,)",
        ),
        (HashedWords(), HashedWords(), True, True, "Words(256)", "Words(256)"),
    ],
)
def test_a_layout_is_the_parts_kinds_and_sizes_and_for_actions_their_values(
    learned, given, same, same_values, shown, plain
):
    """Observations: the parts' kinds and sizes (their bounds may move between versions of an
    environment). Actions also their values: a policy hands out the starts and bounds it
    learned with."""
    assert same_layout(learned, given) is same and same_layout(given, learned) is same
    assert same_layout(learned, given, values=True) is same_values
    assert layout(given, values=True) == shown
    assert layout(given) == plain
