"""All tasks round-robin in the calling thread: bit-for-bit reproducible for a given seed."""

from __future__ import annotations

from collections.abc import Generator

import torch

from a3c.backends.base import Backend, RecordQueue, StopFlag, Supervisor, Task, TaskFailure


class SyncBackend(Backend):
    name = "sync"
    tasks_may_wait = False

    def run(self, tasks: list[Task], supervisor: Supervisor, stop: StopFlag) -> list[TaskFailure]:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the same numerics whatever the machine
        records = RecordQueue()

        def start(task: Task) -> tuple[Task, Generator[None, None, None]]:
            return task, task.fn(*task.args, records=records)

        running = [start(task) for task in tasks]
        failures: list[TaskFailure] = []
        try:
            while running:
                for task, steps in list(running):
                    try:
                        next(steps)
                    except StopIteration:
                        running.remove((task, steps))
                    except Exception as exc:
                        failure = TaskFailure.from_exception(task.name, exc)
                        records.deliver(supervisor, 0.0)  # what it said before failing
                        if not stop.is_set() and supervisor.restart(failure):
                            running[running.index((task, steps))] = start(task)
                        else:
                            running.remove((task, steps))
                            failures.append(failure)
                records.deliver(supervisor, 0.0)
                supervisor.tick()
        finally:
            for _, steps in running:
                steps.close()
            torch.set_num_threads(threads)
        return failures
