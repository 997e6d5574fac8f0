"""Small builders shared by the tests."""

import gymnasium as gym
import numpy as np

from a3c.distributions import make_distribution
from a3c.networks import ActorCritic


def tiny_model(discrete: bool = True, **kwargs) -> ActorCritic:
    space = gym.spaces.Discrete(2) if discrete else gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    return ActorCritic((4,), make_distribution(space), hidden_sizes=(8,), **kwargs)
