"""Distribution identities: agreement with torch.distributions, entropy = -E[log p], bounds."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from a3c.distributions import Categorical, DiagGaussian, make_distribution


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


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_entropy_is_minus_expected_log_prob(kind):
    g = torch.Generator().manual_seed(0)
    if kind == "categorical":
        dist, params = Categorical(5), (torch.randn(1, 5, generator=g).expand(200_000, 5),)
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
        gym.spaces.MultiBinary(3),
        gym.spaces.Box(-np.inf, np.inf, (2,)),
        gym.spaces.Dict({"a": gym.spaces.Discrete(2)}),
    ],
)
def test_unsupported_action_spaces_are_named(space):
    with pytest.raises(ValueError, match="action space"):
        make_distribution(space)
