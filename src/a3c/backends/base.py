"""The interface every backend implements, and the supervision loop they share.

A backend runs *tasks* (generator functions: the worker loop, the evaluator) and supervises them:
it forwards the records they emit to a :class:`Supervisor`, notices within a poll interval when
one fails (an exception, or a process killed by a signal), asks the supervisor whether to start
it afresh, and gives every task a bounded time to finish once the stop flag is set, so that no
wait is without a timeout.
"""

from __future__ import annotations

import ctypes
import queue
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import torch

if TYPE_CHECKING:
    from a3c.config import Config
    from a3c.global_model import GlobalModel
    from a3c.networks import Model
    from a3c.shared_optim import SharedOptimizer

#: how long ``poll`` waits for records before the supervisor's ``tick`` runs again
POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class Task:
    """A named generator function and its arguments (picklable for the processes backend).

    The backend calls ``fn(*args, records=sink)``; the task reports through ``sink.put(record)``.
    """

    name: str
    fn: Callable[..., Generator[None, None, None]]
    args: tuple[Any, ...]


@dataclass(frozen=True)
class TaskFailure:
    """How a task ended abnormally: ``error`` is the exception's type name, the signal's name
    (``SIGKILL``) or ``Timeout``; ``message`` the traceback or a sentence."""

    name: str
    error: str
    message: str

    @classmethod
    def from_exception(cls, name: str, exc: BaseException) -> TaskFailure:
        return cls(name, type(exc).__name__, traceback.format_exc())


class BackendError(RuntimeError):
    """The backend lost what the run cannot go on without (e.g. Ray's parameter server)."""


class Supervisor(Protocol):
    """What a backend reports to (the trainer)."""

    def handle(self, record: Any) -> None:
        """One record a task emitted."""

    def tick(self) -> None:
        """Called at least every :data:`POLL_INTERVAL` seconds while tasks run."""

    def restart(self, failure: TaskFailure) -> bool:
        """A task failed: return ``True`` to start it afresh, ``False`` to give it up."""


class StopFlag(Protocol):
    def is_set(self) -> bool: ...
    def set(self) -> None: ...


class Backend(ABC):
    """Runs tasks until they all return, supervising them for the trainer."""

    name: str = ""
    #: whether a task's loop should sleep while it has nothing to do (not in the sync backend)
    tasks_may_wait: bool = True
    #: seconds every task gets to return once the stop flag is set, before it is given up
    stop_timeout: float = 10.0

    def lock(self) -> Any:
        return threading.Lock()

    def cannot_send(self, obj: Any) -> str | None:
        """Why ``obj`` cannot go to this backend's tasks, or ``None`` if it can (in-process
        backends share it as it is)."""
        return None

    def event(self) -> Any:
        return threading.Event()

    def global_model(
        self,
        model: Model,
        optimizers: list[SharedOptimizer],
        config: Config,
        global_step: int,
        updates: int,
    ) -> GlobalModel:
        """The global model the tasks will share, holding ``model`` and ``optimizers``' state;
        by default in this machine's shared memory."""
        from a3c.global_model import SharedGlobalModel

        shared = SharedGlobalModel(
            model,
            optimizers,
            config.lr,
            config.lr_schedule,
            config.lr_horizon,
            counter_lock=self.lock(),
            update_lock=self.lock() if config.lock else None,
            target_interval=config.target_interval if config.value_based else None,
        )
        shared.set_counters(global_step, updates)
        return shared

    def shutdown(self) -> None:  # noqa: B027 - most backends hold nothing
        """Release what the backend holds (called once the run is over)."""

    @abstractmethod
    def run(self, tasks: list[Task], supervisor: Supervisor, stop: StopFlag) -> list[TaskFailure]:
        """Run ``tasks`` to the end; return the failures that were not restarted (those include a
        task that did not return within :attr:`stop_timeout` of ``stop`` being set)."""


def exhaust(task: Task, records: Any) -> None:
    """Run a task to its end in the calling thread."""
    for _ in task.fn(*task.args, records=records):
        pass


def set_up_worker_process() -> None:
    """Settings for a process that runs a task and nothing else (not the user's process)."""
    # One intra-op thread per worker: with N workers on N cores, more threads only fight.
    torch.set_num_threads(1)
    keep_freed_memory()


#: glibc's ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep the memory of freed tensors for the next ones, instead of handing
    it back to the kernel. A worker allocates and frees the same large tensors every update (the
    Atari CNN's dense layer: a 2.6 MB weight gradient per rollout step); above malloc's mmap
    threshold each is a fresh mapping whose pages fault in again (a Pong worker: 14 page faults
    per agent step, 0.5 with this). Returns whether it could (False without glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl): their allocators differ
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # 32 MiB, glibc's largest mmap threshold on 64-bit; the heap's free top is trimmed past 256
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    )


class Handle(Protocol):
    """A running task, as :func:`supervise` sees it."""

    def done(self) -> bool: ...
    def failure(self) -> TaskFailure | None: ...
    def where(self) -> str:
        """The Python stack of a task still running (where it is stuck), or ``""``."""
        ...


H = TypeVar("H", bound=Handle)


def supervise(
    tasks: list[Task],
    supervisor: Supervisor,
    stop: StopFlag,
    start: Callable[[Task], H],
    deliver: Callable[[float], None],
    abandon: Callable[[H], None],
    stop_timeout: float,
) -> list[TaskFailure]:
    """The loop the threads and processes backends share: deliver records, restart or give up
    failed tasks, tick the supervisor, and abandon tasks that outlive the stop request."""
    running: dict[str, tuple[Task, H]] = {}
    failures: list[TaskFailure] = []
    stop_seen: float | None = None
    try:
        for task in tasks:
            running[task.name] = (task, start(task))
        while running:
            deliver(POLL_INTERVAL)
            for name, (task, handle) in list(running.items()):
                if not handle.done():
                    continue
                del running[name]
                failure = handle.failure()
                if failure is None:
                    continue
                if not stop.is_set() and supervisor.restart(failure):
                    running[name] = (task, start(task))
                else:
                    failures.append(failure)
            supervisor.tick()
            if stop.is_set():
                stop_seen = stop_seen or time.monotonic()
                if time.monotonic() - stop_seen > stop_timeout:
                    for name, (_, handle) in running.items():
                        message = f"{name} did not stop within {stop_timeout:g} s"
                        stack = handle.where()  # where it is stuck: a hung environment's call
                        failures.append(
                            TaskFailure(
                                name, "Timeout", f"{message}\n{stack}" if stack else message
                            )
                        )
                    break
        deliver(0.0)
    finally:
        # Tasks outliving the stop request, or any still running when an exception (a second
        # Ctrl-C) leaves this loop: none is left behind.
        for _, handle in running.values():
            abandon(handle)
    return failures


class RecordQueue:
    """One queue for the records of tasks that share a process (threads, sync)."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()

    def put(self, record: Any) -> None:
        self.queue.put(record)

    def deliver(self, supervisor: Supervisor, timeout: float) -> None:
        """Hand every queued record to ``supervisor``, waiting up to ``timeout`` for the first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                record = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return
            supervisor.handle(record)
            deadline = 0.0  # only the first record is waited for
