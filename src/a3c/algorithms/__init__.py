"""The paper's four asynchronous algorithms, each one worker loop (Mnih et al. 2016):

- ``a3c``: advantage actor-critic, Algorithm S3 (:func:`a3c.worker.run_worker`);
- ``q`` and ``sarsa``: one-step Q-learning, Algorithm 1, and one-step Sarsa, the same loop with
  the target ``r + gamma * Q^-(s', a')`` (:mod:`a3c.algorithms.one_step`);
- ``nstep_q``: n-step Q-learning, Algorithm S2 (:mod:`a3c.algorithms.nstep_q`).

Every loop has the same signature, talks to the global model only through ``pull``/``push``, and
emits the same records, so backends, evaluation, logs and checkpoints serve them all alike.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from a3c.algorithms.nstep_q import run_nstep_q_worker
from a3c.algorithms.one_step import run_one_step_worker
from a3c.worker import run_worker

WorkerLoop = Callable[..., Generator[None, None, None]]

ALGORITHMS: dict[str, WorkerLoop] = {
    "a3c": run_worker,
    "q": run_one_step_worker,
    "sarsa": run_one_step_worker,
    "nstep_q": run_nstep_q_worker,
}


def worker_loop(algo: str) -> WorkerLoop:
    """The worker loop of ``algo`` (a key of :data:`ALGORITHMS`)."""
    try:
        return ALGORITHMS[algo]
    except KeyError:
        expected = ", ".join(ALGORITHMS)
        raise ValueError(f"unknown algorithm {algo!r}: expected one of {expected}") from None


__all__ = ["ALGORITHMS", "WorkerLoop", "worker_loop"]
