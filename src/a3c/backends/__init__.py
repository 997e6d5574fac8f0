"""How workers run: ``sync`` (round-robin, one process), ``threads``, ``processes``.

Every backend runs the same tasks: generator functions (the worker loop, the evaluator) with
picklable arguments. A backend supplies the concurrency primitives those tasks share (a lock, a stop
flag) and a channel for their records, and supervises them for the trainer: records, failures,
restarts and a bounded shutdown (see :mod:`a3c.backends.base`).
"""

from __future__ import annotations

from a3c.backends.base import Backend, Supervisor, Task, TaskFailure
from a3c.backends.processes import ProcessesBackend
from a3c.backends.sync import SyncBackend
from a3c.backends.threads import ThreadsBackend


def make_backend(name: str, start_method: str | None = None) -> Backend:
    if name == "processes":
        return ProcessesBackend(start_method)
    if name == "threads":
        return ThreadsBackend()
    if name == "sync":
        return SyncBackend()
    raise ValueError(f"unknown backend {name!r}: expected processes, threads or sync")


__all__ = [
    "Backend",
    "ProcessesBackend",
    "Supervisor",
    "SyncBackend",
    "Task",
    "TaskFailure",
    "ThreadsBackend",
    "make_backend",
]
