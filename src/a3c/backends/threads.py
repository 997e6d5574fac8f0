"""Workers as threads of one process (seed 000's design). PyTorch releases the GIL inside its
operators, so threads overlap where the work is tensor maths; environment stepping in Python does
not overlap."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch

from a3c.backends.base import Backend, Task, TaskFailure, run_task


class ThreadsBackend(Backend):
    name = "threads"

    def run(
        self, tasks: list[Task], records: Any, poll: Callable[[float], None]
    ) -> list[TaskFailure]:
        failures: list[TaskFailure] = []
        threads_before = torch.get_num_threads()
        torch.set_num_threads(1)  # process-wide: one intra-op thread shared by the workers

        def target(task: Task) -> None:
            try:
                run_task(task, records, single_thread=False)
            except BaseException as exc:
                failures.append(TaskFailure(task.name, repr(exc)))

        threads = [
            threading.Thread(target=target, args=(t,), name=t.name, daemon=True) for t in tasks
        ]
        try:
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                poll(0.05)
        finally:
            for thread in threads:
                thread.join()
            torch.set_num_threads(threads_before)
        return failures
