"""Action distributions for discrete and continuous action spaces.

One factory, :func:`make_distribution`, for every supported Gymnasium action space. The methods
are plain tensor arithmetic on the network's outputs (``logits`` or ``(mean, std)``), so acting
allocates no ``torch.distributions`` objects per step; the tests check them against
``torch.distributions`` and the identity ``entropy = -E[log p]``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from a3c.masks import allowed_actions

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

DistParams = tuple[Tensor, ...]


class ActionDistribution(ABC):
    """The policy's distribution family for one action space (stateless; params come per call)."""

    #: shape of one action as stored in a rollout (``()`` for discrete)
    action_shape: tuple[int, ...]
    action_dtype: torch.dtype

    @abstractmethod
    def sample(self, params: DistParams, generator: torch.Generator | None = None) -> Tensor: ...

    @abstractmethod
    def mode(self, params: DistParams) -> Tensor:
        """The most likely action: what ``deterministic=True`` takes."""

    @abstractmethod
    def log_prob(self, params: DistParams, actions: Tensor) -> Tensor:
        """``log pi(a|s)`` per batch row."""

    @abstractmethod
    def entropy(self, params: DistParams) -> Tensor:
        """Entropy per batch row."""

    @abstractmethod
    def to_env(self, actions: Tensor) -> list[Any]:
        """One action per row, as the environment takes it (clipped to the bounds for Box)."""


class LogitsDistribution(ActionDistribution):
    """A discrete family whose parameters are ``logits_dim`` logits from one linear head."""

    logits_dim: int


class Categorical(LogitsDistribution):
    """Softmax over logits, for ``Discrete(n)``."""

    def __init__(self, n: int, start: int = 0) -> None:
        self.n = n
        self.start = start
        self.logits_dim = n
        self.action_shape = ()
        self.action_dtype = torch.int64

    def sample(self, params: DistParams, generator: torch.Generator | None = None) -> Tensor:
        # Exponential race (Gumbel-max): argmax(logits - log E), E ~ Exp(1), is distributed as
        # softmax(logits); half the cost of torch.multinomial on small batches.
        (logits,) = params
        races = torch.empty_like(logits).exponential_(generator=generator)
        return (logits - races.log()).argmax(dim=-1)

    def mode(self, params: DistParams) -> Tensor:
        return params[0].argmax(dim=-1)

    def log_prob(self, params: DistParams, actions: Tensor) -> Tensor:
        log_p = F.log_softmax(params[0], dim=-1)
        return log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self, params: DistParams) -> Tensor:
        log_p = F.log_softmax(params[0], dim=-1)
        return -(log_p.exp() * log_p).sum(dim=-1)

    def to_env(self, actions: Tensor) -> list[Any]:
        # Python ints: Discrete.contains checks them much faster than numpy scalars.
        return (actions + self.start).tolist() if self.start else actions.tolist()


class MultiCategorical(LogitsDistribution):
    """Independent categoricals, one per component, for ``MultiDiscrete(nvec)``: the logits are
    the components' side by side; log-probabilities and entropies are sums over components."""

    def __init__(
        self,
        nvec: Sequence[int],
        start: Sequence[int] | None = None,
        env_shape: tuple[int, ...] | None = None,
    ) -> None:
        self.env_shape = env_shape
        self.nvec = [int(n) for n in nvec]
        self.start = np.zeros(len(self.nvec), np.int64) if start is None else np.asarray(start)
        self.parts = [Categorical(n) for n in self.nvec]
        self.logits_dim = sum(self.nvec)
        self.action_shape = (len(self.nvec),)
        self.action_dtype = torch.int64

    def _split(self, params: DistParams) -> tuple[Tensor, ...]:
        return params[0].split(self.nvec, dim=-1)

    def sample(self, params: DistParams, generator: torch.Generator | None = None) -> Tensor:
        return torch.stack(
            [
                part.sample((logits,), generator)
                for part, logits in zip(self.parts, self._split(params), strict=True)
            ],
            dim=-1,
        )

    def mode(self, params: DistParams) -> Tensor:
        return torch.stack([logits.argmax(dim=-1) for logits in self._split(params)], dim=-1)

    def log_prob(self, params: DistParams, actions: Tensor) -> Tensor:
        return sum(  # type: ignore[return-value]
            part.log_prob((logits,), actions[..., i])
            for i, (part, logits) in enumerate(zip(self.parts, self._split(params), strict=True))
        )

    def entropy(self, params: DistParams) -> Tensor:
        return sum(  # type: ignore[return-value]
            part.entropy((logits,))
            for part, logits in zip(self.parts, self._split(params), strict=True)
        )

    def to_env(self, actions: Tensor) -> list[Any]:
        return list(in_shape(actions.numpy() + self.start, self.env_shape))


class Bernoulli(LogitsDistribution):
    """Independent Bernoullis, one logit each, for ``MultiBinary(n)``: actions are 0/1 floats in
    the rollout (ints for the environment); log-probabilities and entropies are sums."""

    def __init__(self, n: int, env_shape: tuple[int, ...] | None = None) -> None:
        self.env_shape = env_shape
        self.n = n
        self.logits_dim = n
        self.action_shape = (n,)
        self.action_dtype = torch.float32

    def sample(self, params: DistParams, generator: torch.Generator | None = None) -> Tensor:
        (logits,) = params
        uniform = torch.rand(logits.shape, generator=generator, dtype=logits.dtype)
        return (uniform < torch.sigmoid(logits)).to(logits.dtype)

    def mode(self, params: DistParams) -> Tensor:
        return (params[0] > 0).to(params[0].dtype)

    def log_prob(self, params: DistParams, actions: Tensor) -> Tensor:
        logits = params[0]
        return -F.binary_cross_entropy_with_logits(
            logits, actions.to(logits.dtype), reduction="none"
        ).sum(dim=-1)

    def entropy(self, params: DistParams) -> Tensor:
        logits = params[0]
        p = torch.sigmoid(logits)
        # H = softplus(l) - p * l, per component: stable for large |l|
        return (F.softplus(logits) - p * logits).sum(dim=-1)

    def to_env(self, actions: Tensor) -> list[Any]:
        return list(in_shape(actions.numpy().astype(np.int8), self.env_shape))


class DiagGaussian(ActionDistribution):
    """Independent normals, for ``Box`` actions.

    Samples are unbounded; :meth:`to_env` clips them to the bounds, and :meth:`log_prob` scores the
    unclipped sample, so the gradient is that of the distribution actually sampled from.
    ``params`` are ``(mean, std)``, or ``(mean, std, noise)`` where the policy drew the noise
    itself (gSDE): :meth:`sample` then returns ``mean + noise``.
    """

    def __init__(
        self, low: np.ndarray, high: np.ndarray, env_shape: tuple[int, ...] | None = None
    ) -> None:
        self.env_shape = env_shape
        self.low = np.asarray(low, dtype=np.float32)
        self.high = np.asarray(high, dtype=np.float32)
        self.action_shape = tuple(self.low.shape)
        self.action_dtype = torch.float32

    def sample(self, params: DistParams, generator: torch.Generator | None = None) -> Tensor:
        mean, std = params[:2]
        if len(params) == 3:  # the noise is given (gSDE: drawn for the rollout, not each step)
            return mean + params[2]
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        return mean + std * noise

    def mode(self, params: DistParams) -> Tensor:
        return params[0]

    def log_prob(self, params: DistParams, actions: Tensor) -> Tensor:
        mean, std = params[:2]
        z = (actions - mean) / std
        return (-0.5 * z.pow(2) - std.log() - _LOG_SQRT_2PI).sum(dim=-1)

    def entropy(self, params: DistParams) -> Tensor:
        std = params[1]
        return (0.5 + _LOG_SQRT_2PI + std.log()).sum(dim=-1)

    def to_env(self, actions: Tensor) -> list[Any]:
        return list(in_shape(np.clip(actions.numpy(), self.low, self.high), self.env_shape))


def in_shape(actions: np.ndarray, env_shape: tuple[int, ...] | None) -> np.ndarray:
    """Rows of flat actions, each laid out in the action space's own shape where it has one."""
    return actions if env_shape is None else actions.reshape(len(actions), *env_shape)


def make_distribution(action_space: gym.Space) -> ActionDistribution:
    """The distribution family for ``action_space``: ``Discrete``, ``MultiDiscrete``,
    ``MultiBinary`` or ``Box`` (bounded or not: an infinite bound clips nothing). Actions of more
    than one dimension (a ``Box`` of shape ``(2, 3)``, a 2-D ``nvec``) are learned flat, one
    component per number, and handed to the environment in their own shape."""
    shape = tuple(action_space.shape or ())
    env_shape = shape if len(shape) != 1 else None
    if isinstance(action_space, gym.spaces.Discrete):
        return Categorical(int(action_space.n), int(action_space.start))
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        nvec, start = action_space.nvec.reshape(-1), action_space.start.reshape(-1)
        return MultiCategorical(nvec.tolist(), start.tolist(), env_shape)
    if isinstance(action_space, gym.spaces.MultiBinary):
        return Bernoulli(int(np.prod(shape)), env_shape)
    if isinstance(action_space, gym.spaces.Box):
        low, high = action_space.low.reshape(-1), action_space.high.reshape(-1)
        return DiagGaussian(low, high, env_shape)
    raise ValueError(
        f"unsupported action space {action_space}: a3c supports Discrete, MultiDiscrete, "
        "MultiBinary and Box actions"
    )


def epsilon_greedy(
    q_values: Tensor,
    epsilon: float,
    generator: torch.Generator | None = None,
    masked: bool = False,
) -> Tensor:
    """One action per row: ``argmax Q``, or with probability ``epsilon`` a uniformly random one;
    where the Q-values are ``masked`` (:mod:`a3c.masks`), one of the actions allowed."""
    greedy = q_values.argmax(dim=-1)
    explore = torch.rand(greedy.shape, generator=generator) < epsilon
    if not masked:
        random = torch.randint(0, q_values.shape[-1], greedy.shape, generator=generator)
    else:  # uniform over the allowed: the first to finish of equal exponential races
        races = torch.empty(q_values.shape).exponential_(generator=generator)
        random = races.masked_fill(~allowed_actions(q_values), math.inf).argmin(dim=-1)
    return torch.where(explore, random, greedy)


class EpsilonGreedy(ActionDistribution):
    """The policy of a Q-network over ``Discrete(n)``: the greedy action, or with probability
    ``epsilon`` a uniformly random one. ``params`` are the Q-values; :meth:`mode` is greedy,
    :meth:`sample` explores with the evaluation epsilon (training workers pass their own)."""

    def __init__(self, n: int, start: int = 0, epsilon: float = 0.05) -> None:
        self.n = n
        self.start = start
        self.epsilon = epsilon
        self.masked = False  # whether the Q-values come masked (a3c.masks): set by the network
        self.action_shape = ()
        self.action_dtype = torch.int64

    def sample(self, params: DistParams, generator: torch.Generator | None = None) -> Tensor:
        return epsilon_greedy(params[0], self.epsilon, generator, self.masked)

    def mode(self, params: DistParams) -> Tensor:
        return params[0].argmax(dim=-1)

    def probs(self, params: DistParams) -> Tensor:
        """``pi(a|s)``: ``epsilon / n`` each of the ``n`` actions allowed (all of them without a
        mask), plus ``1 - epsilon`` on the greedy action."""
        q_values = params[0]
        greedy = F.one_hot(q_values.argmax(dim=-1), self.n).to(q_values.dtype)
        if not self.masked:
            return self.epsilon / self.n + (1.0 - self.epsilon) * greedy
        allowed = allowed_actions(q_values).to(q_values.dtype)
        return (
            self.epsilon * allowed / allowed.sum(-1, keepdim=True) + (1.0 - self.epsilon) * greedy
        )

    def log_prob(self, params: DistParams, actions: Tensor) -> Tensor:
        probs = self.probs(params)
        return probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1).log()

    def entropy(self, params: DistParams) -> Tensor:
        probs = self.probs(params)
        return -(probs * probs.clamp_min(1e-30).log()).sum(dim=-1)

    def to_env(self, actions: Tensor) -> list[Any]:
        return (actions + self.start).tolist() if self.start else actions.tolist()
