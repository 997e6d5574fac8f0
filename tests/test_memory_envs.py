"""The a3c/ partially observable tasks: what they hide, and their time limit."""

import gymnasium as gym
import numpy as np
import pytest

from a3c.envs import EnvFactory


def balance(env: gym.Env, seed: int = 0) -> tuple[int, bool, bool]:
    """Steps until the episode ends under a PD controller that reads the hidden full state
    (pole angle and cart position, with their rates); returns (steps, terminated, truncated)."""
    obs, _ = env.reset(seed=seed)
    steps = 0
    while True:
        x, x_dot, theta, theta_dot = env.unwrapped.state
        np.testing.assert_array_equal(obs, np.float32([x, theta]))  # positions only
        push = 10.0 * theta + 1.0 * theta_dot + 0.1 * x + 0.5 * x_dot
        obs, reward, terminated, truncated, _ = env.step(int(push > 0))
        steps += 1
        assert reward == 1.0
        if terminated or truncated:
            return steps, terminated, truncated


@pytest.mark.parametrize(("limit", "expected"), [(None, 500), (1000, 1000), (120, 120)])
def test_cartpole_no_velocity_is_truncated_at_the_limit_set_for_it(limit, expected):
    """The id's own limit is CartPole-v1's 500, and an override replaces it (issue 13: a limit
    above 500 used to stop at 500, CartPole-v1's limit applying inside)."""
    env = EnvFactory("a3c/CartPoleNoVelocity-v1", max_episode_steps=limit)()
    assert env.observation_space.shape == (2,)
    assert balance(env) == (expected, False, True)
    assert balance(env, seed=1) == (expected, False, True)  # and again, after a reset
