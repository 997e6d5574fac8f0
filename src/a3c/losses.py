"""The A3C objective as pure functions (Mnih et al. 2016, Algorithm S3 and section 4).

The policy gradient ``grad log pi(a|s) (R - V(s))`` is the gradient of :func:`policy_loss`; the
critic regresses ``V(s)`` on the return ``R``; the entropy bonus discourages premature convergence
to a deterministic policy. The paper sums over the rollout; we average, so the learning rate does
not change meaning with ``n_steps * envs_per_worker``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def policy_loss(log_probs: Tensor, advantages: Tensor) -> Tensor:
    """``-E[log pi(a|s) * A]`` with the advantage held constant (no gradient into the critic)."""
    return -(log_probs * advantages.detach()).mean()


def value_loss(values: Tensor, returns: Tensor, kind: str = "mse") -> Tensor:
    """Critic regression: ``0.5 * (R - V)^2`` (``mse``) or the Huber loss (``huber``, seed 003)."""
    returns = returns.detach()
    if kind == "mse":
        return 0.5 * (returns - values).pow(2).mean()
    if kind == "huber":
        return F.smooth_l1_loss(values, returns)
    raise ValueError(f"unknown value loss {kind!r}: expected 'mse' or 'huber'")


@dataclass(frozen=True)
class A3CLoss:
    """The total loss and its parts (the parts are detached, for logging)."""

    total: Tensor
    policy: Tensor
    value: Tensor
    entropy: Tensor


def a3c_loss(
    log_probs: Tensor,
    entropy: Tensor,
    values: Tensor,
    returns: Tensor,
    advantages: Tensor,
    vf_coef: float,
    ent_coef: float,
    value_loss_kind: str = "mse",
) -> A3CLoss:
    """``policy + vf_coef * value - ent_coef * entropy``."""
    pg = policy_loss(log_probs, advantages)
    vf = value_loss(values, returns, value_loss_kind)
    ent = entropy.mean()
    total = pg + vf_coef * vf - ent_coef * ent
    return A3CLoss(total, pg.detach(), vf.detach(), ent.detach())


def clip_grad_norm(grads: list[Tensor], max_norm: float | None) -> float:
    """Scale ``grads`` in place so that their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping (``inf``/``nan`` pass through, for the caller to reject).
    """
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if max_norm is not None:
        scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
        for g in grads:
            g.mul_(scale)
    return float(norm)


def q_learning_loss(
    q_values: Tensor, actions: Tensor, targets: Tensor, kind: str = "mse"
) -> Tensor:
    """The value-based algorithms' regression of ``Q(s, a)`` on the targets ``y`` for the actions
    taken: ``0.5 * (y - Q(s, a))^2`` (``mse``) or Huber; the targets are constants."""
    q_taken = q_values.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    return value_loss(q_taken, targets, kind)


@dataclass(frozen=True)
class QLoss:
    """A value-based update's loss in the logs' columns: ``value`` is the Q regression loss;
    there is no policy loss (``policy`` 0); ``entropy`` is the entropy of the worker's
    epsilon-greedy policy at the update (how much it still explores)."""

    total: Tensor
    value: Tensor
    entropy: float
    policy: float = 0.0
