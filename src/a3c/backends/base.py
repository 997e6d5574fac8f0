"""The interface every backend implements."""

from __future__ import annotations

import queue
import threading
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Task:
    """A named generator function and its arguments (picklable for the processes backend)."""

    name: str
    fn: Callable[..., Generator[None, None, None]]
    args: tuple[Any, ...]


@dataclass(frozen=True)
class TaskFailure:
    name: str
    message: str


class Backend(ABC):
    """Runs tasks to completion and calls ``poll`` between their steps; a task that raises puts
    an ``("error", name, traceback)`` record on ``records``.

    ``poll(timeout)`` drains records for up to ``timeout`` seconds and returns nothing; the trainer
    sets the stop event when it wants the tasks to finish.
    """

    name: str = ""
    #: whether a task's loop should sleep while it has nothing to do (not in the sync backend)
    tasks_may_wait: bool = True

    def lock(self) -> Any:
        return threading.Lock()

    def event(self) -> Any:
        return threading.Event()

    def queue(self) -> Any:
        return queue.Queue()

    @abstractmethod
    def run(
        self, tasks: list[Task], records: Any, poll: Callable[[float], None]
    ) -> list[TaskFailure]:
        """Run ``tasks`` until they all return; the failures (exceptions, deaths) are returned."""


def run_task(task: Task, records: Any, single_thread: bool) -> None:
    """Exhaust a task; report an exception as an ``("error", name, traceback)`` record."""
    if single_thread:
        # One intra-op thread per worker: with N workers on N cores, more threads only fight.
        torch.set_num_threads(1)
    try:
        for _ in task.fn(*task.args):
            pass
    except BaseException:
        records.put(("error", task.name, traceback.format_exc()))
        raise
