"""n-step bootstrapped returns and GAE(lambda): pure tensor functions.

All inputs are ``[T, N]`` tensors: ``T`` rollout steps of ``N`` environments. Row ``t`` holds the
transition ``s_t, a_t -> r_t, s_{t+1}``:

- ``next_values[t]`` is ``V(s_{t+1})``: the value of the state the transition led to. Where the
  episode was *truncated* at ``t`` (a time limit), that is the value of the final observation of
  the old episode, not of the reset observation that follows it.
- ``terminated[t]``: the episode really ended; nothing follows, the bootstrap is 0.
- ``truncated[t]``: the episode was cut; it bootstraps from ``V(s_{t+1})`` (Pardo et al., 2018),
  but the return of the next step belongs to another episode and is not carried back.
"""

from __future__ import annotations

import torch
from torch import Tensor


def n_step_returns(
    rewards: Tensor,
    next_values: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    gamma: float,
) -> Tensor:
    """The paper's n-step return ``R_t = r_t + gamma * R_{t+1}``, bootstrapped at the rollout end.

    Algorithm S3: ``R = V(s_T)`` (0 if terminal), then ``R <- r_i + gamma * R`` backwards.
    Episode ends inside the rollout restart the recursion: from 0 on termination, from
    ``V(s_{t+1})`` on truncation.
    """
    not_terminated = 1.0 - terminated.to(rewards.dtype)
    episode_end = terminated | truncated
    returns = torch.empty_like(rewards)
    carried = next_values[-1]  # past the last row: bootstrap from V(s_T)
    for t in range(rewards.shape[0] - 1, -1, -1):
        # Inside an episode R_{t+1} is carried back; at an episode end the bootstrap is
        # V(s_{t+1}) instead, cut to zero below when the episode terminated.
        bootstrap = torch.where(episode_end[t], next_values[t], carried)
        returns[t] = rewards[t] + gamma * not_terminated[t] * bootstrap
        carried = returns[t]
    return returns


def gae_advantages(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    gamma: float,
    gae_lambda: float,
) -> Tensor:
    """Generalised advantage estimation (Schulman et al., 2016).

    ``delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)`` and
    ``A_t = delta_t + gamma * lambda * (1 - episode_end_t) * A_{t+1}``. With ``lambda = 1``,
    ``A_t + V(s_t)`` is exactly :func:`n_step_returns`.
    """
    not_terminated = 1.0 - terminated.to(rewards.dtype)
    continues = 1.0 - (terminated | truncated).to(rewards.dtype)
    deltas = rewards + gamma * not_terminated * next_values - values
    advantages = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + gamma * gae_lambda * continues[t] * running
        advantages[t] = running
    return advantages


def standardized_advantages(advantages: Tensor, eps: float = 1e-8) -> Tensor:
    """``(A - mean(A)) / (std(A) + eps)`` over the whole update: the scale and the offset go,
    each sample's place against the update's mean and spread stays, so the policy's step no
    longer grows with the rewards' size (a one-sample update is returned as it is, having no
    spread to divide by)."""
    if advantages.numel() < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + eps)


def running_returns(rewards: Tensor, episode_ends: Tensor, gamma: float, running: Tensor) -> Tensor:
    """The discounted return of each environment's episode so far, ``G_t = gamma * G_{t-1} +
    r_t``, at every step of the rollout (``[T, N]``), restarting after an episode end.

    ``running`` (``[N]``) carries ``G`` from one rollout to the next and is updated in place.
    Reward normalisation divides rewards by the running standard deviation of these values
    (Stable-Baselines3's ``VecNormalize``; Engstrom et al., 2020, "reward scaling").
    """
    seen = torch.empty_like(rewards)
    for t in range(rewards.shape[0]):
        running.mul_(gamma).add_(rewards[t])
        seen[t] = running
        running.masked_fill_(episode_ends[t], 0.0)
    return seen


def one_step_targets(
    rewards: Tensor, next_values: Tensor, terminated: Tensor, gamma: float
) -> Tensor:
    """The one-step targets of Q-learning and Sarsa: ``y = r + gamma * next_value``, ``y = r``
    where the episode terminated (Algorithm 1).

    ``next_values`` is ``max_a' Q^-(s', a')`` for Q-learning and ``Q^-(s', a')`` of the action
    taken next for Sarsa; where the episode was truncated, of the final observation."""
    return rewards + gamma * (1.0 - terminated.to(rewards.dtype)) * next_values
