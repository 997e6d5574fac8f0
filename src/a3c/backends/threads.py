"""Workers as threads of one process (seed 000's design). PyTorch releases the GIL inside its
operators, so threads overlap where the work is tensor maths; environment stepping in Python does
not overlap."""

from __future__ import annotations

import sys
import threading
import traceback

import torch

from a3c.backends.base import (
    Backend,
    RecordQueue,
    StopFlag,
    Supervisor,
    Task,
    TaskFailure,
    exhaust,
    supervise,
)


class _Thread:
    def __init__(self, task: Task, records: RecordQueue) -> None:
        self.outcome: list[TaskFailure] = []
        self.thread = threading.Thread(
            target=self._main, args=(task, records), name=task.name, daemon=True
        )
        self.thread.start()

    def _main(self, task: Task, records: RecordQueue) -> None:
        try:
            exhaust(task, records)
        except BaseException as exc:
            self.outcome.append(TaskFailure.from_exception(task.name, exc))

    def done(self) -> bool:
        return not self.thread.is_alive()

    def failure(self) -> TaskFailure | None:
        return self.outcome[0] if self.outcome else None

    def where(self) -> str:
        frame = sys._current_frames().get(self.thread.ident or -1)
        if frame is None:  # it ended meanwhile
            return ""
        stack = "".join(traceback.format_stack(frame)).rstrip()
        return f"Its stack (most recent call last):\n{stack}"


class ThreadsBackend(Backend):
    name = "threads"

    def run(self, tasks: list[Task], supervisor: Supervisor, stop: StopFlag) -> list[TaskFailure]:
        records = RecordQueue()
        threads_before = torch.get_num_threads()
        torch.set_num_threads(1)  # process-wide: one intra-op thread shared by the workers
        try:
            return supervise(
                tasks,
                supervisor,
                stop,
                start=lambda task: _Thread(task, records),
                deliver=lambda timeout: records.deliver(supervisor, timeout),
                # A thread cannot be killed: a daemon thread stuck in its environment is left
                # behind (and reported as a failure) rather than hanging the run.
                abandon=lambda handle: None,
                stop_timeout=self.stop_timeout,
            )
        finally:
            torch.set_num_threads(threads_before)
