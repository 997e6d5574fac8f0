"""All tasks round-robin in the calling thread: bit-for-bit reproducible for a given seed."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Generator
from typing import Any

import torch

from a3c.backends.base import Backend, Task, TaskFailure


class SyncBackend(Backend):
    name = "sync"
    tasks_may_wait = False

    def run(
        self, tasks: list[Task], records: Any, poll: Callable[[float], None]
    ) -> list[TaskFailure]:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the same numerics whatever the machine
        running: list[tuple[Task, Generator[None, None, None]]] = [
            (task, task.fn(*task.args)) for task in tasks
        ]
        failures: list[TaskFailure] = []
        try:
            while running:
                for entry in list(running):
                    task, steps = entry
                    try:
                        next(steps)
                    except StopIteration:
                        running.remove(entry)
                    except Exception:
                        running.remove(entry)
                        message = traceback.format_exc()
                        failures.append(TaskFailure(task.name, message))
                        # Like the other backends: the trainer stops the rest on this record.
                        records.put(("error", task.name, message))
                poll(0.0)
        finally:
            for _, steps in running:
                steps.close()
            torch.set_num_threads(threads)
        return failures
