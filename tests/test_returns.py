"""n-step returns and GAE against naive per-episode loops and hand-computed values."""

import numpy as np
import pytest
import torch

from a3c.returns import gae_advantages, n_step_returns, standardized_advantages


def naive_returns(rewards, next_values, terminated, truncated, gamma):
    """Per env, walk backwards; restart the recursion at each episode end (Algorithm S3)."""
    T, N = rewards.shape
    out = np.zeros((T, N))
    for n in range(N):
        R = next_values[T - 1, n] * (0.0 if terminated[T - 1, n] else 1.0)
        for t in reversed(range(T)):
            if terminated[t, n]:
                R = 0.0
            elif truncated[t, n] or t == T - 1:
                R = next_values[t, n]
            R = rewards[t, n] + gamma * R
            out[t, n] = R
    return out


def naive_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    T, N = rewards.shape
    out = np.zeros((T, N))
    for n in range(N):
        A = 0.0
        for t in reversed(range(T)):
            boot = 0.0 if terminated[t, n] else next_values[t, n]
            delta = rewards[t, n] + gamma * boot - values[t, n]
            if terminated[t, n] or truncated[t, n]:
                A = 0.0
            A = delta + gamma * lam * A
            out[t, n] = A
    return out


def random_rollout(seed, T=7, N=5):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, N))
    values = rng.normal(size=(T, N))
    next_values = rng.normal(size=(T, N))
    ends = rng.random((T, N))
    terminated = ends < 0.15
    truncated = (ends >= 0.15) & (ends < 0.3)
    return rewards, values, next_values, terminated, truncated


def t(x):
    return torch.as_tensor(x, dtype=torch.float64 if x.dtype != bool else torch.bool)


def test_single_episode_matches_hand_computation():
    # r = 1, 2, 3; gamma = 0.5; rollout cut by t_max with V(s_3) = 8
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    next_values = torch.tensor([[0.0], [0.0], [8.0]])
    no = torch.zeros(3, 1, dtype=torch.bool)
    R = n_step_returns(rewards, next_values, no, no, gamma=0.5)
    # R2 = 3 + 0.5*8 = 7; R1 = 2 + 0.5*7 = 5.5; R0 = 1 + 0.5*5.5 = 3.75
    assert R.squeeze(1).tolist() == [3.75, 5.5, 7.0]


def test_termination_does_not_bootstrap_but_truncation_does():
    rewards = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    next_values = torch.tensor([[10.0, 10.0], [100.0, 100.0]])
    terminated = torch.tensor([[True, False], [False, False]])
    truncated = torch.tensor([[False, True], [False, False]])
    R = n_step_returns(rewards, next_values, terminated, truncated, gamma=0.9)
    assert R[0, 0].item() == pytest.approx(1.0)  # terminal: no bootstrap, nothing carried
    assert R[0, 1].item() == pytest.approx(1.0 + 0.9 * 10.0)  # time limit: V(final obs)
    assert R[1, 0].item() == pytest.approx(1.0 + 0.9 * 100.0)


@pytest.mark.parametrize("seed", range(20))
def test_n_step_returns_match_naive_loop(seed):
    rewards, _, next_values, terminated, truncated = random_rollout(seed)
    ours = n_step_returns(t(rewards), t(next_values), t(terminated), t(truncated), 0.93)
    np.testing.assert_allclose(
        ours.numpy(), naive_returns(rewards, next_values, terminated, truncated, 0.93), rtol=1e-12
    )


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95])
def test_gae_matches_naive_loop(seed, lam):
    rewards, values, next_values, terminated, truncated = random_rollout(seed)
    ours = gae_advantages(
        t(rewards), t(values), t(next_values), t(terminated), t(truncated), 0.97, lam
    )
    expected = naive_gae(rewards, values, next_values, terminated, truncated, 0.97, lam)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_gae_with_lambda_one_is_the_n_step_return(seed):
    rewards, values, next_values, terminated, truncated = random_rollout(seed)
    # Within an episode, next_values[t] must be values[t+1] for the identity to hold.
    next_values[:-1] = np.where(terminated[:-1] | truncated[:-1], next_values[:-1], values[1:])
    adv = gae_advantages(
        t(rewards), t(values), t(next_values), t(terminated), t(truncated), 0.99, 1.0
    )
    R = n_step_returns(t(rewards), t(next_values), t(terminated), t(truncated), 0.99)
    np.testing.assert_allclose((adv + t(values)).numpy(), R.numpy(), rtol=1e-10, atol=1e-10)


def test_gae_with_lambda_zero_is_the_td_error():
    rewards, values, next_values, terminated, truncated = random_rollout(3)
    adv = gae_advantages(
        t(rewards), t(values), t(next_values), t(terminated), t(truncated), 0.9, 0.0
    )
    td = rewards + 0.9 * np.where(terminated, 0.0, next_values) - values
    np.testing.assert_allclose(adv.numpy(), td, rtol=1e-12)


def test_running_returns_match_a_naive_loop_and_carry_across_rollouts():
    from a3c.returns import running_returns

    rng = np.random.default_rng(3)
    rewards = rng.normal(size=(12, 3))
    ends = rng.random((12, 3)) < 0.2
    gamma = 0.97
    expected, g = np.zeros((12, 3)), np.array([0.5, 0.0, -1.0])  # carried in from before
    for n in range(3):
        for t in range(12):
            g[n] = gamma * g[n] + rewards[t, n]
            expected[t, n] = g[n]
            if ends[t, n]:
                g[n] = 0.0
    running = torch.tensor([0.5, 0.0, -1.0], dtype=torch.float64)
    first = running_returns(t_(rewards[:7]), torch.from_numpy(ends[:7]), gamma, running)
    second = running_returns(t_(rewards[7:]), torch.from_numpy(ends[7:]), gamma, running)
    np.testing.assert_allclose(torch.cat([first, second]).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(running.numpy(), g, rtol=1e-12)


def t_(array):
    return torch.from_numpy(array)


@pytest.mark.parametrize("seed", range(5))
def test_standardized_advantages_have_mean_zero_std_one_whatever_their_scale(seed):
    gen = torch.Generator().manual_seed(seed)
    advantages = torch.randn(5, 8, generator=gen, dtype=torch.float64)
    out = standardized_advantages(advantages)
    assert out.shape == advantages.shape
    assert float(out.mean()) == pytest.approx(0.0, abs=1e-12)
    assert float(out.std()) == pytest.approx(1.0, rel=1e-6)  # up to the 1e-8 in the divisor
    # only the order and the spacing count: a shift and a positive scale change nothing
    torch.testing.assert_close(standardized_advantages(37.0 * advantages - 5.0), out)
    # the sign of each sample's step follows its place against the batch's mean
    assert torch.equal(out > 0, advantages > advantages.mean())


def test_a_single_advantage_is_left_as_it_is():
    one = torch.tensor([[2.5]])
    assert torch.equal(standardized_advantages(one), one)
