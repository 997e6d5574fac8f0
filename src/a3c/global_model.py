"""The global model as workers see it: ``pull`` weights, ``push`` gradients.

This is the seam that keeps backends out of the algorithm. :class:`SharedGlobalModel` keeps the
weights, the optimizer statistics and the step counters in shared memory, for the ``sync``,
``threads`` and ``processes`` backends; a parameter-server actor can offer the same three members.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import torch
from torch import Tensor

from a3c.networks import Model, QNetwork
from a3c.shared_optim import SharedOptimizer


class LockLike(Protocol):
    def __enter__(self) -> Any: ...
    def __exit__(self, *args: Any) -> Any: ...


class GlobalModel(Protocol):
    """What the worker loop needs from the global model (and the trainer: counters, snapshots)."""

    @property
    def global_step(self) -> int: ...

    def new_local_model(self) -> Model: ...

    def pull(self, local_model: Model) -> None: ...

    def push(
        self,
        rank: int,
        grads: Sequence[Tensor] | None,
        steps: int,
        observations: Tensor | None = None,
        returns: Tensor | None = None,
    ) -> float: ...

    def flush(self) -> None:
        """Wait until every push has been applied (a parameter server's pushes are asynchronous)."""
        ...

    @property
    def updates(self) -> int: ...

    def snapshot(self) -> Snapshot: ...

    def policy_lags(self) -> dict[int, int]:
        """How many applied updates had each policy lag (global updates between the pull that
        computed the gradients and their push); empty where not measured."""
        ...


class Snapshot(NamedTuple):
    """The global model's state, copied: what a checkpoint needs of it."""

    model: dict[str, Tensor]
    optimizers: list[dict[str, Any]]
    global_step: int
    updates: int

    @classmethod
    def of(
        cls,
        model: Model,
        optimizers: Sequence[SharedOptimizer],
        global_step: int,
        updates: int,
    ) -> Snapshot:
        return cls(
            {k: v.clone() for k, v in model.state_dict().items()},
            [opt.state_dict() for opt in optimizers],
            global_step,
            updates,
        )


def annealed(base: float, schedule: str, step: int, horizon: int) -> float:
    """``base`` at global step ``step`` under ``schedule``: ``constant``, or ``linear`` annealing
    to zero at step ``horizon`` (the paper anneals the learning rate to 0; ``ent_schedule``
    anneals the entropy bonus the same way)."""
    if schedule == "linear":
        return base * max(0.0, 1.0 - step / horizon)
    return base


class SharedGlobalModel:
    """Global weights, optimizer statistics and counters, all in shared memory.

    ``optimizers`` holds one optimizer (statistics shared by every worker, as in the paper) or one
    per worker (``rank`` picks it). ``update_lock`` serialises optimizer steps (``None``: Hogwild);
    ``counter_lock`` keeps the step counters, the optimizer's step count (Hogwild) and the
    observation statistics exact. With ``target_interval`` (value-based algorithms), the push
    whose steps carry the global step across a multiple of it copies the weights into the
    model's target network (``QNetwork.sync_target``), once its own update is applied.
    """

    def __init__(
        self,
        model: Model,
        optimizers: list[SharedOptimizer],
        base_lr: float,
        lr_schedule: str,
        lr_horizon: int,
        counter_lock: LockLike | None = None,
        update_lock: LockLike | None = None,
        target_interval: int | None = None,
    ) -> None:
        self.model = model.share_memory()
        self.target_interval = target_interval
        self.params: list[Tensor] = list(model.parameters())
        self.optimizers = [opt.share_memory() for opt in optimizers]
        self.base_lr = base_lr
        self.lr_schedule = lr_schedule
        self.lr_horizon = lr_horizon
        self.counter_lock = counter_lock
        self.update_lock = update_lock
        self.counters = torch.zeros(2, dtype=torch.int64).share_memory_()  # steps, updates

    @property
    def global_step(self) -> int:
        return int(self.counters[0])

    @property
    def updates(self) -> int:
        return int(self.counters[1])

    def set_counters(self, global_step: int, updates: int) -> None:
        self.counters[0] = global_step
        self.counters[1] = updates

    def snapshot(self) -> Snapshot:
        # Under the counter lock, as the statistics are merged: a checkpoint never keeps a new
        # mean with an old variance (the weights may still move under Hogwild, as in the paper).
        with self.counter_lock or contextlib.nullcontext():
            return Snapshot.of(self.model, self.optimizers, self.global_step, self.updates)

    def policy_lags(self) -> dict[int, int]:
        return {}  # not measured in shared memory

    def flush(self) -> None:
        pass  # pushes are applied before ``push`` returns

    def learning_rate(self) -> float:
        return annealed(self.base_lr, self.lr_schedule, self.global_step, self.lr_horizon)

    def new_local_model(self) -> Model:
        """A private copy (``deepcopy`` allocates fresh, unshared memory)."""
        return copy.deepcopy(self.model)

    @torch.no_grad()
    def pull(self, local_model: Model) -> None:
        """theta' <- theta: copy global weights (and normaliser statistics) into ``local_model``."""
        local, shared = local_model.state_tensors(), self.model.state_tensors()
        n_params = len(self.params)
        for tensor, source in zip(local[:n_params], shared[:n_params], strict=True):
            tensor.copy_(source)
        if len(shared) == n_params:
            return  # no statistics (nor any other buffer): no lock to take
        # The statistics (the buffers) under the lock they are merged under: one consistent
        # (mean, var, count), not a mean from after a merge and a var from before it.
        with self.counter_lock or contextlib.nullcontext():
            for tensor, source in zip(local[n_params:], shared[n_params:], strict=True):
                tensor.copy_(source)

    def push(
        self,
        rank: int,
        grads: Sequence[Tensor] | None,
        steps: int,
        observations: Tensor | None = None,
        returns: Tensor | None = None,
    ) -> float:
        """Apply a worker's gradients with the shared optimizer; count its ``steps``.

        ``grads=None`` counts the steps without updating (a rejected, non-finite update).
        ``observations`` and ``returns`` (discounted returns seen) are merged into the normaliser
        statistics. Returns the learning rate used.
        """
        lr = self.learning_rate()
        optimizer = self.optimizers[rank % len(self.optimizers)]
        t = None  # the optimizer's step number; None: taken under the update lock
        with self.counter_lock or contextlib.nullcontext():
            before = int(self.counters[0])
            self.counters[0] += steps
            sync_target = (
                self.target_interval is not None
                and before // self.target_interval != (before + steps) // self.target_interval
            )
            if grads is not None:
                self.counters[1] += 1
                if self.update_lock is None:
                    # Hogwild: the update runs unlocked, but its step number is taken here, so
                    # that no increment of the shared step count is lost (issue #13).
                    t = optimizer.next_step()
            if observations is not None and self.model.obs_rms is not None:
                self.model.obs_rms.update(observations)
            if returns is not None and self.model.return_rms is not None:
                self.model.return_rms.update(returns)
        if grads is not None:
            with self.update_lock or contextlib.nullcontext():
                optimizer.step(self.params, grads, lr, t)
        if sync_target:  # theta^- <- theta (one push crosses each multiple: no lock needed)
            assert isinstance(self.model, QNetwork)
            self.model.sync_target()
        return lr
