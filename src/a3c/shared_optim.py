"""Optimizers whose statistics can live in shared memory (the paper's "shared RMSProp", S3 Alg.).

Unlike ``torch.optim``, ``step`` takes the gradients as an explicit list instead of reading
``param.grad``. That is the whole gradient hand-off from a worker's local model to the global one:
no tensor aliasing between the two models (seed 003's ``global_param._grad = local_param.grad``
silently stops working on PyTorch >= 2, where ``zero_grad`` sets ``.grad`` to ``None``), and no
race between threads over a shared ``.grad`` attribute. With a single process the update is exactly
``torch.optim.RMSprop`` / ``torch.optim.Adam`` (tested).

Every statistic is allocated up front, so ``share_memory()`` can place it in shared memory before
workers start; workers then update it in place, lock-free (Hogwild) unless the caller holds a lock.
Only the step count must be exact (Adam's bias correction reads it): Hogwild callers number their
steps under a short lock (:meth:`SharedOptimizer.next_step`) and update without it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor


class SharedOptimizer(ABC):
    """Base class: per-parameter statistics as named lists of tensors, plus a step count."""

    #: names of the per-parameter statistics, in ``state``
    statistics: tuple[str, ...] = ()

    def __init__(self, params: Sequence[Tensor], lr_scales: Sequence[float] | None = None) -> None:
        self.lr_scales = [1.0] * len(params) if lr_scales is None else [float(s) for s in lr_scales]
        if len(self.lr_scales) != len(params):
            raise ValueError("lr_scales must have one entry per parameter")
        self.state: dict[str, list[Tensor]] = {
            name: [torch.zeros_like(p, memory_format=torch.preserve_format) for p in params]
            for name in self.statistics
        }
        self.step_count = torch.zeros((), dtype=torch.int64)

    def share_memory(self) -> SharedOptimizer:
        """Move every statistic to shared memory (call before starting worker processes)."""
        for tensors in self.state.values():
            for t in tensors:
                t.share_memory_()
        self.step_count.share_memory_()
        return self

    def is_shared(self) -> bool:
        return self.step_count.is_shared() and all(
            t.is_shared() for tensors in self.state.values() for t in tensors
        )

    @torch.no_grad()
    def next_step(self) -> int:
        """Count one step; its number (1 for the first). A read-modify-write of shared memory:
        where several processes step at once, call it under a lock and pass the number to
        :meth:`step`, or increments are lost."""
        self.step_count.add_(1)
        return int(self.step_count)

    @torch.no_grad()
    def step(
        self, params: Sequence[Tensor], grads: Sequence[Tensor], lr: float, t: int | None = None
    ) -> None:
        """Apply ``grads`` to ``params`` in place with learning rate ``lr`` (times the scales).

        ``t`` is this step's number, taken beforehand with :meth:`next_step`; ``None`` counts
        the step here (one process, or updates serialised by the caller)."""
        if t is None:
            t = self.next_step()
        for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
            self._update(i, param, grad, lr * self.lr_scales[i], t)

    @abstractmethod
    def _update(self, i: int, param: Tensor, grad: Tensor, lr: float, t: int) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """Copies of the statistics (plain tensors: loadable with ``weights_only=True``)."""
        return {
            "step": int(self.step_count),
            **{name: [t.clone() for t in ts] for name, ts in self.state.items()},
        }

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy statistics in place, so tensors already shared with workers stay shared."""
        self.step_count.fill_(int(state["step"]))
        for name, tensors in self.state.items():
            saved = state[name]
            if len(saved) != len(tensors):
                raise ValueError(
                    f"optimizer state {name!r} has {len(saved)} tensors, expected {len(tensors)}"
                )
            for dst, src in zip(tensors, saved, strict=True):
                if dst.shape != src.shape:
                    raise ValueError(
                        f"optimizer state {name!r}: shape {tuple(src.shape)} does not "
                        f"match {tuple(dst.shape)}"
                    )
                dst.copy_(src)


class SharedRMSprop(SharedOptimizer):
    """RMSProp, ``g = alpha * g + (1 - alpha) * grad^2; param -= lr * grad / (sqrt(g) + eps)``.

    The paper's choice, with ``g`` shared across workers (its section 4, "shared RMSProp").
    """

    statistics = ("square_avg",)
    initial_square_avg = 0.0

    def __init__(
        self,
        params: Sequence[Tensor],
        alpha: float = 0.99,
        eps: float = 1e-5,
        lr_scales: Sequence[float] | None = None,
    ) -> None:
        super().__init__(params, lr_scales)
        self.alpha = alpha
        self.eps = eps
        for square_avg in self.state["square_avg"]:
            square_avg.fill_(self.initial_square_avg)

    def _update(self, i: int, param: Tensor, grad: Tensor, lr: float, t: int) -> None:
        square_avg = self.state["square_avg"][i]
        square_avg.mul_(self.alpha).addcmul_(grad, grad, value=1 - self.alpha)
        param.addcdiv_(grad, square_avg.sqrt().add_(self.eps), value=-lr)


class SharedRMSpropTF(SharedRMSprop):
    """RMSProp as the paper writes it, ``param -= lr * grad / sqrt(g + eps)`` (epsilon inside the
    root), with ``g`` starting at 1 as in TensorFlow 1's ``RMSPropOptimizer`` (which the OpenAI
    baselines' A2C used, and SB3's ``RMSpropTFLike`` copies).

    Starting ``g`` at 0 makes the first updates ``lr / sqrt(1 - alpha)`` = 10 ``lr`` per weight
    whatever the gradient's size; on Atari that is known to destabilise training.
    """

    initial_square_avg = 1.0

    def _update(self, i: int, param: Tensor, grad: Tensor, lr: float, t: int) -> None:
        square_avg = self.state["square_avg"][i]
        square_avg.mul_(self.alpha).addcmul_(grad, grad, value=1 - self.alpha)
        param.addcdiv_(grad, square_avg.add(self.eps).sqrt_(), value=-lr)


class SharedAdam(SharedOptimizer):
    """Adam (Kingma and Ba, 2015), moments and step count shared (seed 003's optimizer)."""

    statistics = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Sequence[Tensor],
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        lr_scales: Sequence[float] | None = None,
    ) -> None:
        super().__init__(params, lr_scales)
        self.betas = betas
        self.eps = eps

    def _update(self, i: int, param: Tensor, grad: Tensor, lr: float, t: int) -> None:
        beta1, beta2 = self.betas
        exp_avg, exp_avg_sq = self.state["exp_avg"][i], self.state["exp_avg_sq"][i]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = lr / (1 - beta1**t)
        denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2**t)).add_(self.eps)
        param.addcdiv_(exp_avg, denom, value=-step_size)
