"""How workers run: ``sync`` (round-robin, one process), ``threads``, ``processes``, ``ray``.

Every backend runs the same tasks: generator functions (the worker loop, the evaluator) with
picklable arguments. A backend supplies the concurrency primitives those tasks share (a lock, a stop
flag) and a channel for their records, and supervises them for the trainer: records, failures,
restarts and a bounded shutdown (see :mod:`a3c.backends.base`).
"""

from __future__ import annotations

from a3c.backends.base import Backend, BackendError, Supervisor, Task, TaskFailure
from a3c.backends.processes import ProcessesBackend
from a3c.backends.sync import SyncBackend
from a3c.backends.threads import ThreadsBackend
from a3c.config import Config


def make_backend(config: Config) -> Backend:
    """The backend ``config.backend`` names (Ray is imported only when asked for)."""
    name = config.backend
    if name == "processes":
        return ProcessesBackend(config.start_method)
    if name == "threads":
        return ThreadsBackend()
    if name == "sync":
        return SyncBackend()
    if name == "ray":
        from a3c.backends.ray import RayBackend

        return RayBackend(config)
    raise ValueError(f"unknown backend {name!r}: expected processes, threads, sync or ray")


__all__ = [
    "Backend",
    "BackendError",
    "ProcessesBackend",
    "Supervisor",
    "SyncBackend",
    "Task",
    "TaskFailure",
    "ThreadsBackend",
    "make_backend",
]
