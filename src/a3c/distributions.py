"""Action distributions for discrete, continuous and hybrid action spaces.

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

from a3c.masks import allowed_actions, mask_size
from a3c.spaces import SUPPORTED_ACTIONS, check_action_space, leaves

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

DistParams = tuple[Tensor, ...]

#: the distributions a ``Box`` of actions may get (:func:`make_distribution`)
BOX_DISTRIBUTIONS = ("gaussian", "beta")


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


class BoxDistribution(ActionDistribution):
    """A distribution over a ``Box`` of actions, learned flat between its bounds and handed to
    the environment clipped to them, in the space's own shape."""

    def __init__(
        self, low: np.ndarray, high: np.ndarray, env_shape: tuple[int, ...] | None = None
    ) -> None:
        self.env_shape = env_shape
        self.low = np.asarray(low, dtype=np.float32)
        self.high = np.asarray(high, dtype=np.float32)
        self.action_shape = tuple(self.low.shape)
        self.action_dtype = torch.float32

    def to_env(self, actions: Tensor) -> list[Any]:
        return list(in_shape(np.clip(actions.numpy(), self.low, self.high), self.env_shape))


class DiagGaussian(BoxDistribution):
    """Independent normals, for ``Box`` actions.

    Samples are unbounded; :meth:`to_env` clips them to the bounds, and :meth:`log_prob` scores the
    unclipped sample, so the gradient is that of the distribution actually sampled from.
    ``params`` are ``(mean, std)``, or ``(mean, std, noise)`` where the policy drew the noise
    itself (gSDE): :meth:`sample` then returns ``mean + noise``.
    """

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


class Beta(BoxDistribution):
    """Independent Beta distributions scaled to the bounds, for ``Box`` actions with finite ones
    (Chou et al., 2017). A Gaussian's samples past a bound are clipped, but scored where they
    fell: near a bound the gradient keeps pushing its mean out, where every sample plays the
    bound. A Beta's support is the box itself, so nothing is clipped and nothing scored amiss.

    ``params`` are ``(alpha, beta)``, each at least 1 (unimodal); actions are stored as the
    environment takes them, ``low + (high - low) * x`` with ``x`` in ``(0, 1)``. :meth:`mode`
    plays the mean, as the field does (with ``alpha = beta = 1`` the Beta has no single mode).
    """

    def __init__(
        self, low: np.ndarray, high: np.ndarray, env_shape: tuple[int, ...] | None = None
    ) -> None:
        super().__init__(low, high, env_shape)
        # in float64: bounds of +-float32's largest (a stand-in for none) overflow float32's width
        width = self.high.astype(np.float64) - self.low.astype(np.float64)
        if not (np.isfinite(width).all() and (width > 0).all() and (width < 3e38).all()):
            raise ValueError(
                "a Beta policy spans the action bounds, which must be finite, apart and not "
                f"vast (low {self.low.tolist()}, high {self.high.tolist()}): use "
                "box_distribution='gaussian'"
            )
        self._low = torch.as_tensor(self.low)
        self._range = torch.as_tensor(self.high - self.low)

    def sample(self, params: DistParams, generator: torch.Generator | None = None) -> Tensor:
        alpha, beta = params
        x = _standard_gamma(alpha, generator)
        y = _standard_gamma(beta, generator)
        unit = (x / (x + y)).clamp(_BETA_EPS, 1 - _BETA_EPS)
        return self._low + self._range * unit

    def mode(self, params: DistParams) -> Tensor:
        alpha, beta = params
        return self._low + self._range * alpha / (alpha + beta)

    def log_prob(self, params: DistParams, actions: Tensor) -> Tensor:
        alpha, beta = params
        unit = ((actions - self._low) / self._range).clamp(_BETA_EPS, 1 - _BETA_EPS)
        log_density = (
            (alpha - 1) * unit.log()
            + (beta - 1) * torch.log1p(-unit)
            - _log_beta_function(alpha, beta)
            - self._range.log()
        )
        return log_density.sum(dim=-1)

    def entropy(self, params: DistParams) -> Tensor:
        alpha, beta = params
        total = alpha + beta
        unit_entropy = (
            _log_beta_function(alpha, beta)
            - (alpha - 1) * torch.digamma(alpha)
            - (beta - 1) * torch.digamma(beta)
            + (total - 2) * torch.digamma(total)
        )
        return (unit_entropy + self._range.log()).sum(dim=-1)


#: how close to a bound a Beta's sample may come: log(0) would be -inf
_BETA_EPS = 1e-6


def _log_beta_function(alpha: Tensor, beta: Tensor) -> Tensor:
    return torch.lgamma(alpha) + torch.lgamma(beta) - torch.lgamma(alpha + beta)


def _standard_gamma(shape: Tensor, generator: torch.Generator | None) -> Tensor:
    """Gamma(``shape``, 1) draws for shapes of at least 1 (Marsaglia and Tsang, 2000), from
    ``generator``: ``torch._standard_gamma`` takes none, and a worker's draws must follow its seed.
    Each round accepts at least 95% of the draws still pending; the rest draw again."""
    d = shape.detach() - 1.0 / 3.0
    c = 1.0 / (9.0 * d).sqrt()
    out = torch.empty_like(d)
    pending = torch.ones_like(d, dtype=torch.bool)
    while bool(pending.any()):
        normal = torch.randn(d.shape, generator=generator, dtype=d.dtype)
        uniform = torch.rand(d.shape, generator=generator, dtype=d.dtype)
        v = (1.0 + c * normal).pow(3)
        positive = v > 0
        log_v = torch.where(positive, v, torch.ones_like(v)).log()
        accept = positive & (uniform.log() < 0.5 * normal.pow(2) + d - d * v + d * log_v)
        take = pending & accept
        out = torch.where(take, d * v, out)
        pending = pending & ~accept
    return out


class Product(ActionDistribution):
    """Independent parts, for a ``Tuple`` or ``Dict`` of the spaces above: a hybrid action, such
    as a discrete choice with continuous parameters (a move and its force).

    The discrete leaves (``Discrete``, ``MultiDiscrete``, ``MultiBinary``: a component of two
    per bit) are one :class:`MultiCategorical`, the ``Box`` leaves one :class:`DiagGaussian`;
    log-probabilities and entropies are the sums of theirs. ``params`` are the categorical's
    logits (if any leaf is discrete) followed by the Gaussian's parameters (if any is a Box). A
    rollout stores an action as one float row, the discrete components' indices first, then the
    Box numbers; :meth:`to_env` builds the space's own tuple or dict from it, nested as the space
    is.
    """

    def __init__(self, space: gym.spaces.Tuple | gym.spaces.Dict) -> None:
        check_action_space(space)
        self.space = space
        self.leaves = list(leaves(space))
        nvec: list[int] = []
        low: list[np.ndarray] = []
        high: list[np.ndarray] = []
        #: the discrete components an action mask covers: the leaves that a3c.masks.mask_size
        #: counts (not the MultiBinary bits)
        self.maskable: list[int] = []
        for leaf in self.leaves:
            if isinstance(leaf, gym.spaces.Box):
                low.append(leaf.low.reshape(-1))
                high.append(leaf.high.reshape(-1))
                continue
            if isinstance(leaf, gym.spaces.Discrete):
                components = [int(leaf.n)]
            elif isinstance(leaf, gym.spaces.MultiDiscrete):
                components = leaf.nvec.reshape(-1).tolist()
            else:
                assert isinstance(leaf, gym.spaces.MultiBinary)
                components = [2] * int(np.prod(leaf.shape))
            if mask_size(leaf) is not None:
                self.maskable += range(len(nvec), len(nvec) + len(components))
            nvec += components
        self.discrete = MultiCategorical(nvec) if nvec else None
        self.continuous = DiagGaussian(np.concatenate(low), np.concatenate(high)) if low else None
        self.logits_dim = sum(nvec)  # 0 without a discrete leaf
        self.n_components = len(nvec)
        gaussian_dim = self.continuous.action_shape[0] if self.continuous is not None else 0
        self.action_shape = (self.n_components + gaussian_dim,)
        self.action_dtype = torch.float32

    def _split(self, params: DistParams) -> tuple[DistParams, DistParams]:
        """``(the categorical's params, the Gaussian's)``; either empty without its leaves."""
        n = 0 if self.discrete is None else 1
        return params[:n], params[n:]

    def _parts(self, params: DistParams) -> list[tuple[ActionDistribution, DistParams, slice]]:
        """Each part with its params and its columns of a stored action."""
        discrete, continuous = self._split(params)
        k = self.n_components
        parts: list[tuple[ActionDistribution, DistParams, slice]] = []
        if self.discrete is not None:
            parts.append((self.discrete, discrete, slice(0, k)))
        if self.continuous is not None:
            parts.append((self.continuous, continuous, slice(k, None)))
        return parts

    def sample(self, params: DistParams, generator: torch.Generator | None = None) -> Tensor:
        return torch.cat(
            [part.sample(p, generator).float() for part, p, _ in self._parts(params)], dim=-1
        )

    def mode(self, params: DistParams) -> Tensor:
        return torch.cat([part.mode(p).float() for part, p, _ in self._parts(params)], dim=-1)

    def log_prob(self, params: DistParams, actions: Tensor) -> Tensor:
        return sum(  # type: ignore[return-value]
            part.log_prob(p, actions[..., columns]) for part, p, columns in self._parts(params)
        )

    def entropy(self, params: DistParams) -> Tensor:
        return sum(part.entropy(p) for part, p, _ in self._parts(params))  # type: ignore[return-value]

    def to_env(self, actions: Tensor) -> list[Any]:
        rows = actions.numpy()
        indices = rows[:, : self.n_components].astype(np.int64)
        numbers = rows[:, self.n_components :]
        columns: list[list[Any]] = []  # per leaf, its value in every row
        i = j = 0
        for leaf in self.leaves:
            if isinstance(leaf, gym.spaces.Discrete):
                columns.append((indices[:, i] + int(leaf.start)).tolist())
                i += 1
                continue
            leaf_shape = tuple(leaf.shape or ())
            size = int(np.prod(leaf_shape))
            shape = (len(rows), *leaf_shape)
            if isinstance(leaf, gym.spaces.MultiDiscrete):
                values = indices[:, i : i + size].reshape(shape) + leaf.start
                i += size
            elif isinstance(leaf, gym.spaces.MultiBinary):
                values = indices[:, i : i + size].reshape(shape)
                i += size
            else:
                assert isinstance(leaf, gym.spaces.Box)
                values = numbers[:, j : j + size].reshape(shape)
                if np.issubdtype(leaf.dtype, np.integer):
                    values = np.rint(values)
                # clipped in the leaf's own dtype: float32 bounds could let a float64 Box's
                # value fall just outside its own
                values = np.clip(values.astype(leaf.dtype), leaf.low, leaf.high)
                j += size
            # one array a row, a 0-d one for a Box of shape ()
            columns.append([np.asarray(row, dtype=leaf.dtype) for row in values])
        return [_assemble(self.space, iter([c[r] for c in columns])) for r in range(len(rows))]


def _assemble(space: gym.Space, values: Any) -> Any:
    """``space``'s own tuple or dict around the leaf values that ``values`` yields in order."""
    if isinstance(space, gym.spaces.Dict):
        return {key: _assemble(part, values) for key, part in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(_assemble(part, values) for part in space.spaces)
    return next(values)


def neutral_params(dist: ActionDistribution) -> DistParams:
    """An untrained policy's parameters for one row: zero logits and means, unit stds."""
    if isinstance(dist, LogitsDistribution):
        return (torch.zeros(1, dist.logits_dim),)
    if isinstance(dist, DiagGaussian):
        return (torch.zeros(1, *dist.action_shape), torch.ones(1, *dist.action_shape))
    if isinstance(dist, Beta):  # uniform over the box, its mean the middle
        return (torch.ones(1, *dist.action_shape), torch.ones(1, *dist.action_shape))
    if isinstance(dist, Product):
        parts = [part for part in (dist.discrete, dist.continuous) if part is not None]
        return tuple(p for part in parts for p in neutral_params(part))
    raise TypeError(f"no neutral parameters for {type(dist).__name__}")


def in_shape(actions: np.ndarray, env_shape: tuple[int, ...] | None) -> np.ndarray:
    """Rows of flat actions, each laid out in the action space's own shape where it has one."""
    return actions if env_shape is None else actions.reshape(len(actions), *env_shape)


def make_distribution(action_space: gym.Space, box: str = "gaussian") -> ActionDistribution:
    """The distribution family for ``action_space``: ``Discrete``, ``MultiDiscrete``,
    ``MultiBinary`` or ``Box`` (bounded or not: an infinite bound clips nothing), or a ``Tuple``
    or ``Dict`` of them (:class:`Product`). Actions of more than one dimension (a ``Box`` of
    shape ``(2, 3)``, a 2-D ``nvec``) are learned flat, one component per number, and handed to
    the environment in their own shape. ``box`` is a ``Box``'s: ``"gaussian"``
    (:class:`DiagGaussian`) or ``"beta"`` (:class:`Beta`, finite bounds only; not in a hybrid)."""
    if box not in BOX_DISTRIBUTIONS:
        raise ValueError(f"box must be one of {', '.join(BOX_DISTRIBUTIONS)}, not {box!r}")
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
        return (Beta if box == "beta" else DiagGaussian)(low, high, env_shape)
    if isinstance(action_space, gym.spaces.Tuple | gym.spaces.Dict):
        if box == "beta":
            raise ValueError("a Beta policy is for a Box of actions, not a hybrid's Box parts")
        return Product(action_space)
    raise ValueError(f"unsupported action space {action_space}: {SUPPORTED_ACTIONS}")


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
