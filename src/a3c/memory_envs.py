"""Partially observable control tasks: what a feed-forward policy cannot solve and an LSTM can.

Registered under the ``a3c/`` namespace when :mod:`a3c.envs` is imported (in every worker too).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

# CartPole's observation: cart position, cart velocity, pole angle, pole angular velocity.
CARTPOLE_POSITIONS = [0, 2]


class HideVelocities(gym.ObservationWrapper):
    """Keeps only CartPole's positions: the velocities must be inferred from successive frames."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        box = env.observation_space
        assert isinstance(box, gym.spaces.Box)
        self.observation_space = gym.spaces.Box(
            box.low[CARTPOLE_POSITIONS], box.high[CARTPOLE_POSITIONS], dtype=np.float32
        )

    def observation(self, observation: Any) -> np.ndarray:
        return np.asarray(observation, dtype=np.float32)[CARTPOLE_POSITIONS]


def cartpole_no_velocity(**kwargs: Any) -> gym.Env:
    """CartPole with its velocities hidden, and no time limit of its own.

    The bare ``CartPoleEnv``, not ``gym.make("CartPole-v1")``: that one's 500-step limit would
    apply inside any limit set for this id (``max_episode_steps=1000`` would still stop at 500).
    The id's own limit, registered below, is CartPole-v1's 500 and can be overridden as usual.
    """
    return HideVelocities(CartPoleEnv(**kwargs))


if "a3c/CartPoleNoVelocity-v1" not in gym.registry:
    gym.register(
        "a3c/CartPoleNoVelocity-v1",
        entry_point=cartpole_no_velocity,
        max_episode_steps=500,  # CartPole-v1's
        reward_threshold=475.0,
    )
