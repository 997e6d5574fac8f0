"""Workers as processes (``torch.multiprocessing``) sharing the global model's memory.

Works with every start method: tasks and their arguments are picklable, and shared tensors travel
as shared-memory handles. The library never calls ``set_start_method``: it uses a context.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import torch.multiprocessing as mp

from a3c.backends.base import Backend, Task, TaskFailure, run_task


def _process_main(task: Task, records: Any) -> None:
    # The trainer coordinates shutdown: Ctrl-C reaches the whole process group, but only the
    # trainer should act on it; SIGTERM (sent by terminate()) must kill, whatever handler a
    # forked child inherited from the trainer.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        run_task(task, records, single_thread=True)
    except BaseException:
        raise SystemExit(1) from None


class ProcessesBackend(Backend):
    name = "processes"

    def __init__(self, start_method: str | None = None) -> None:
        self.context: Any = mp.get_context(start_method)

    def lock(self) -> Any:
        return self.context.Lock()

    def event(self) -> Any:
        return self.context.Event()

    def queue(self) -> Any:
        return self.context.Queue()

    def run(
        self, tasks: list[Task], records: Any, poll: Callable[[float], None]
    ) -> list[TaskFailure]:
        processes = [
            self.context.Process(
                target=_process_main, args=(task, records), name=task.name, daemon=True
            )
            for task in tasks
        ]
        failures: list[TaskFailure] = []
        try:
            for process in processes:
                process.start()
            # Keep draining records while waiting: a child blocked on a full queue pipe cannot
            # exit, so joining without draining could hang.
            while any(process.is_alive() for process in processes):
                poll(0.05)
            poll(0.0)
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
                process.join(timeout=10)
        for task, process in zip(tasks, processes, strict=True):
            if process.exitcode != 0:
                failures.append(TaskFailure(task.name, f"exit code {process.exitcode}"))
        return failures
