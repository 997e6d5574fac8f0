"""Distribution identities: agreement with torch.distributions, entropy = -E[log p], bounds."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from a3c.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    DiagGaussian,
    MultiCategorical,
    make_distribution,
)


def test_categorical_matches_torch():
    logits = torch.randn(6, 4)
    ours = Categorical(4)
    ref = torch.distributions.Categorical(logits=logits)
    actions = torch.randint(0, 4, (6,))
    torch.testing.assert_close(ours.log_prob((logits,), actions), ref.log_prob(actions))
    torch.testing.assert_close(ours.entropy((logits,)), ref.entropy())
    assert torch.equal(ours.mode((logits,)), logits.argmax(-1))


def test_gaussian_matches_torch():
    mean, std = torch.randn(5, 3), torch.rand(5, 3) + 0.1
    ours = DiagGaussian(-np.ones(3), np.ones(3))
    ref = torch.distributions.Normal(mean, std)
    actions = torch.randn(5, 3) * 3  # outside the bounds too: log-prob of the unclipped sample
    torch.testing.assert_close(ours.log_prob((mean, std), actions), ref.log_prob(actions).sum(-1))
    torch.testing.assert_close(ours.entropy((mean, std)), ref.entropy().sum(-1))


def test_multi_categorical_matches_independent_torch_categoricals():
    logits = torch.randn(6, 2 + 3 + 4)
    ours = MultiCategorical([2, 3, 4])
    refs = [torch.distributions.Categorical(logits=part) for part in logits.split([2, 3, 4], -1)]
    actions = torch.stack([torch.randint(0, n, (6,)) for n in (2, 3, 4)], dim=-1)
    expected = sum(ref.log_prob(actions[:, i]) for i, ref in enumerate(refs))
    torch.testing.assert_close(ours.log_prob((logits,), actions), expected)
    torch.testing.assert_close(ours.entropy((logits,)), sum(ref.entropy() for ref in refs))
    mode = ours.mode((logits,))
    assert mode.shape == (6, 3)
    assert all(
        torch.equal(mode[:, i], p.argmax(-1)) for i, p in enumerate(logits.split([2, 3, 4], -1))
    )


def test_bernoulli_matches_torch():
    logits = torch.randn(6, 5) * 4
    ours = Bernoulli(5)
    ref = torch.distributions.Bernoulli(logits=logits)
    actions = torch.randint(0, 2, (6, 5)).float()
    torch.testing.assert_close(ours.log_prob((logits,), actions), ref.log_prob(actions).sum(-1))
    torch.testing.assert_close(ours.entropy((logits,)), ref.entropy().sum(-1))
    assert torch.equal(ours.mode((logits,)), (logits > 0).float())


def test_multi_space_actions_reach_the_env_as_it_takes_them():
    multi = make_distribution(gym.spaces.MultiDiscrete([3, 2], start=[-1, 5]))
    assert [a.tolist() for a in multi.to_env(torch.tensor([[0, 1], [2, 0]]))] == [[-1, 6], [1, 5]]
    space = gym.spaces.MultiBinary(3)
    binary = make_distribution(space)
    actions = binary.to_env(torch.tensor([[1.0, 0.0, 1.0]]))
    assert space.contains(actions[0]) and actions[0].tolist() == [1, 0, 1]


def test_beta_matches_torch_on_its_bounds():
    low, high = np.array([-1.0, 0.0]), np.array([1.0, 4.0])
    alpha, beta = 1 + torch.rand(5, 2) * 4, 1 + torch.rand(5, 2) * 4
    ours = Beta(low, high)
    ref = torch.distributions.Beta(alpha, beta)
    unit = torch.rand(5, 2) * 0.98 + 0.01
    actions = (torch.as_tensor(low) + torch.as_tensor(high - low) * unit).float()
    # densities over the box: the unit interval's divided by the box's widths (2 and 4)
    expected = ref.log_prob(unit).sum(-1) - np.log(2.0 * 4.0)
    torch.testing.assert_close(ours.log_prob((alpha, beta), actions), expected.float())
    entropy = ref.entropy().sum(-1) + np.log(2.0 * 4.0)
    torch.testing.assert_close(ours.entropy((alpha, beta)), entropy.float())
    mean = torch.as_tensor(low, dtype=torch.float32) + torch.as_tensor(high - low) * ref.mean
    torch.testing.assert_close(ours.mode((alpha, beta)), mean.float())


def test_beta_samples_follow_the_distribution_and_the_generator():
    dist = Beta(np.array([-2.0, -2.0, -2.0]), np.array([2.0, 2.0, 2.0]))
    alpha = torch.tensor([[1.0, 1.5, 8.0]]).expand(200_000, 3)
    beta = torch.tensor([[1.0, 4.0, 2.0]]).expand(200_000, 3)
    samples = dist.sample((alpha, beta), torch.Generator().manual_seed(0))
    assert samples.min() > -2 and samples.max() < 2  # inside the box: nothing to clip
    unit = (samples + 2) / 4
    ref = torch.distributions.Beta(alpha[0], beta[0])
    torch.testing.assert_close(unit.mean(0), ref.mean, atol=0.003, rtol=0)
    torch.testing.assert_close(unit.var(0), ref.variance, atol=0.002, rtol=0)
    # the quartiles too: the shape, not only two moments (Beta(1, 1) is uniform)
    quartiles = torch.quantile(unit[:, 0], torch.tensor([0.25, 0.5, 0.75]))
    torch.testing.assert_close(quartiles, torch.tensor([0.25, 0.5, 0.75]), atol=0.005, rtol=0)
    # a worker's draws follow its seed, not the global RNG
    first = dist.sample((alpha[:10], beta[:10]), torch.Generator().manual_seed(7))
    torch.manual_seed(123)
    again = dist.sample((alpha[:10], beta[:10]), torch.Generator().manual_seed(7))
    assert torch.equal(first, again)


def test_a_beta_needs_finite_bounds_and_a_plain_box():
    big = np.finfo(np.float32).max  # a stand-in for no bound: the width overflows float32
    for low, high in [(-np.inf, np.inf), (0.0, 0.0), (-big, big)]:
        with pytest.raises(ValueError, match=r"finite, apart and not vast.*'gaussian'"):
            make_distribution(gym.spaces.Box(low, high, (2,)), "beta")
    hybrid = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Box(-1, 1, (1,))))
    with pytest.raises(ValueError, match="hybrid"):
        make_distribution(hybrid, "beta")
    assert isinstance(make_distribution(gym.spaces.Box(-1, 1, (2,)), "beta"), Beta)


@pytest.mark.parametrize(
    "kind", ["categorical", "gaussian", "multi_categorical", "bernoulli", "beta"]
)
def test_entropy_is_minus_expected_log_prob(kind):
    g = torch.Generator().manual_seed(0)
    if kind == "categorical":
        dist, params = Categorical(5), (torch.randn(1, 5, generator=g).expand(200_000, 5),)
    elif kind == "multi_categorical":
        dist = MultiCategorical([3, 4])
        params = (torch.randn(1, 7, generator=g).expand(200_000, 7),)
    elif kind == "bernoulli":
        dist, params = Bernoulli(3), (torch.tensor([[-2.0, 0.3, 1.5]]).expand(200_000, 3),)
    elif kind == "beta":
        dist = Beta(np.array([-1.0, 0.0]), np.array([1.0, 0.5]))
        params = (
            torch.tensor([[1.2, 6.0]]).expand(200_000, 2),
            torch.tensor([[3.0, 1.0]]).expand(200_000, 2),
        )
    else:
        dist = DiagGaussian(-np.ones(2), np.ones(2))
        params = (torch.zeros(200_000, 2), torch.tensor([[0.3, 2.0]]).expand(200_000, 2))
    samples = dist.sample(params, g)
    monte_carlo = -dist.log_prob(params, samples).mean()
    assert monte_carlo.item() == pytest.approx(dist.entropy(params)[0].item(), abs=0.01)


def test_sampling_frequencies_follow_the_probabilities():
    g = torch.Generator().manual_seed(1)
    logits = torch.tensor([[0.0, 1.0, 2.0]]).expand(100_000, 3)
    counts = torch.bincount(Categorical(3).sample((logits,), g), minlength=3).float() / 100_000
    torch.testing.assert_close(counts, torch.softmax(logits[0], -1), atol=0.01, rtol=0)
    binary = Bernoulli(2).sample((torch.tensor([[-1.0, 2.0]]).expand(100_000, 2),), g)
    torch.testing.assert_close(
        binary.mean(0), torch.sigmoid(torch.tensor([-1.0, 2.0])), atol=0.01, rtol=0
    )


def test_gaussian_actions_are_clipped_for_the_env_only():
    dist = DiagGaussian(np.array([-2.0]), np.array([2.0]))
    raw = torch.tensor([[-5.0], [0.5], [7.0]])
    assert [a.tolist() for a in dist.to_env(raw)] == [[-2.0], [0.5], [2.0]]
    assert raw.tolist() == [[-5.0], [0.5], [7.0]]  # the stored sample is untouched


def test_discrete_start_offset_reaches_the_env():
    dist = make_distribution(gym.spaces.Discrete(3, start=-1))
    assert dist.to_env(torch.tensor([0, 2])) == [-1, 1]


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.MultiBinary((2, 3)),
        gym.spaces.MultiDiscrete([[2, 3], [4, 5]], start=[[0, 1], [-2, 0]]),
        gym.spaces.Box(np.array([[-1, -2], [-3, -4]]), np.array([[1, 2], [3, 4]])),
        gym.spaces.Box(-1.0, 1.0, ()),  # one number
    ],
)
def test_actions_of_any_shape_are_learned_flat_and_reach_the_env_in_theirs(space):
    """One component per number, in the space's row-major order; the environment gets each
    action in the space's shape, its components where the flat action had them (clipped to
    their own bounds for a Box)."""
    dist = make_distribution(space)
    size = int(np.prod(space.shape))
    assert dist.action_shape == (size,)
    params = (torch.zeros(3, dist.logits_dim),) if hasattr(dist, "logits_dim") else None
    if params is None:  # a Box: means far outside the bounds, to see each clipped to its own
        params = (torch.full((3, size), 10.0), torch.ones(3, size))
    flat = dist.sample(params, torch.Generator().manual_seed(0))
    actions = dist.to_env(flat)
    assert len(actions) == 3
    for action, row in zip(actions, flat, strict=True):
        assert np.shape(action) == space.shape and space.contains(np.asarray(action, space.dtype))
        expected = row.numpy()
        if isinstance(space, gym.spaces.MultiDiscrete):
            expected = expected + space.start.reshape(-1)
        if isinstance(space, gym.spaces.Box):
            expected = np.minimum(expected, space.high.reshape(-1))
        np.testing.assert_array_equal(np.reshape(action, -1), expected)


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Dict({"a": gym.spaces.Discrete(2), "b": gym.spaces.Text(4)}),
        gym.spaces.Tuple(()),
        gym.spaces.Text(4),
    ],
)
def test_unsupported_action_spaces_are_named(space):
    # (A Dict or Tuple of the supported spaces is a hybrid action: tests/test_hybrid_actions.py.)
    with pytest.raises(ValueError, match="action space"):
        make_distribution(space)
