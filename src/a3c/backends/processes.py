"""Workers as processes (``torch.multiprocessing``) sharing the global model's memory.

Works with every start method: tasks and their arguments are picklable, and shared tensors travel
as shared-memory handles. The library never calls ``set_start_method``: it uses a context.

Built to survive a worker killed at any instant (SIGKILL, the OOM killer):

- each process sends its records through a pipe of its own, so a death in the middle of a message
  corrupts nothing but that pipe (a shared ``multiprocessing.Queue`` can be left holding a lock, or
  half a message that blocks its reader);
- the stop flag is a lock-free shared byte (``multiprocessing.Event`` takes a lock to read);
- locks remember the pid of their holder, and the lock of a process that died holding it is
  released on its behalf;
- a process dies with the trainer (``PR_SET_PDEATHSIG`` on Linux, a thread watching the
  trainer's pid elsewhere and under forkserver), so killing the trainer leaves no orphan behind;
- a process killed by a fatal signal it can catch (SIGSEGV in a native library, SIGABRT, SIGBUS)
  writes its Python stack first (``faulthandler``), and the failure reports where it was.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import os
import pickle
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from multiprocessing.connection import Connection, wait
from typing import Any

import torch.multiprocessing as mp

from a3c.backends.base import (
    Backend,
    StopFlag,
    Supervisor,
    Task,
    TaskFailure,
    exhaust,
    set_up_worker_process,
    supervise,
)

_FAILURE = "__task_failure__"


class OwnedLock:
    """A process-shared lock that records which process holds it."""

    def __init__(self, context: Any) -> None:
        self._lock = context.Lock()
        self._owner = context.RawValue("q", 0)

    def __enter__(self) -> OwnedLock:
        self._lock.acquire()
        self._owner.value = os.getpid()
        return self

    def __exit__(self, *args: Any) -> None:
        self._owner.value = 0
        self._lock.release()

    def release_if_held_by(self, pid: int, grace: float = 1.0) -> bool:
        """Release the lock if the (dead) process ``pid`` holds it.

        A process killed between acquiring the lock and recording itself, or between clearing
        its record and releasing, leaves the lock held with no owner recorded. A live process
        crosses those gaps in microseconds, so a lock held by nobody recorded for ``grace``
        seconds is held by a dead process, and is released too."""
        if self._owner.value == pid:
            self._owner.value = 0
            self._lock.release()
            return True
        deadline = time.monotonic() + grace
        while self._owner.value == 0:
            if self._lock.acquire(block=False):  # free: nothing to release
                self._lock.release()
                return False
            if time.monotonic() > deadline:
                self._lock.release()
                return True
            time.sleep(0.005)
        return False  # held by a process that recorded itself: alive, or released in its turn


class SharedFlag:
    """A stop flag any process can read and set without taking a lock."""

    def __init__(self, context: Any) -> None:
        self._value = context.RawValue("b", 0)

    def is_set(self) -> bool:
        return bool(self._value.value)

    def set(self) -> None:
        self._value.value = 1


class _PipeSink:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def put(self, record: Any) -> None:
        self.conn.send(record)


def _die_with_trainer(trainer: int) -> None:
    if os.getppid() == trainer and sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL) == 0:  # PR_SET_PDEATHSIG: killed when the trainer dies
            if os.getppid() != trainer:  # it died before prctl took effect
                os._exit(1)
            return

    # Elsewhere, or under forkserver (whose server, our parent, outlives a killed trainer while
    # its children hold its "alive" pipe): watch the trainer's pid.
    def watch() -> None:
        while _alive(trainer):
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="trainer-watch", daemon=True).start()


# The signal that asks a process for its stack (faulthandler.register): a process that does
# not stop when asked reports where it is stuck before it is killed.
_WHERE_SIGNAL = signal.SIGUSR1
# The signals faulthandler reports (Python's faulthandler.c).
_FATAL_SIGNALS = (signal.SIGSEGV, signal.SIGFPE, signal.SIGABRT, signal.SIGBUS, signal.SIGILL)


def _process_main(task: Task, conn: Connection, trainer: int, crash_path: str | None) -> None:
    # The trainer coordinates shutdown: Ctrl-C, GNU timeout, SLURM's scancel or `kill -TERM
    # -PGID` signal the whole process group, but only the trainer may act on it (it stops the
    # workers through the stop flag, and kills with SIGKILL what does not stop in time).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # A crash in native code (an environment's engine, torch) leaves no Python traceback: the
    # stack at the fatal signal goes to a file the trainer reads once the process is gone.
    # faulthandler hands the signal on to the handler it replaced: under fork that is the
    # parent's, and Ray's (a trainer that ran the ray backend) writes its own report and
    # aborts, so the process would die by SIGABRT, not by the signal that hit it. (enable() on
    # the faulthandler a forked process inherits, pytest's, would install nothing.)
    faulthandler.disable()
    for fatal in _FATAL_SIGNALS:
        signal.signal(fatal, signal.SIG_DFL)
    if crash_path is not None:
        with contextlib.suppress(OSError):  # without it, the process runs all the same
            crash_file = open(crash_path, "w")  # noqa: SIM115 (open for the process's whole life)
            faulthandler.enable(crash_file, all_threads=True)
            # The trainer's question to a process that does not stop: where is it stuck?
            faulthandler.register(_WHERE_SIGNAL, crash_file, all_threads=True)
    _die_with_trainer(trainer)
    set_up_worker_process()
    try:
        exhaust(task, _PipeSink(conn))
    except BaseException as exc:
        with contextlib.suppress(OSError):  # unless the trainer is gone
            conn.send((_FAILURE, type(exc).__name__, traceback.format_exc()))
        raise SystemExit(1) from None
    finally:
        conn.close()


#: the start of a run's crash folder's name, followed by its trainer's pid and host
CRASH_DIR_PREFIX = "a3c-crashes-"


def crash_dir_prefix() -> str:
    """The start of this trainer's crash folder's name: a pid names a process on one host only
    (a temporary folder may be shared by machines or containers)."""
    return f"{CRASH_DIR_PREFIX}{os.getpid()}@{socket.gethostname()}-"


def sweep_crash_dirs(directory: str | None = None) -> list[str]:
    """Remove the crash folders (in ``directory``, by default the temporary one) that this user's
    trainers on this host left when they were killed outright: those whose trainer's pid is no
    longer alive. Returns the paths removed."""
    directory = directory or tempfile.gettempdir()
    named = re.compile(
        rf"{CRASH_DIR_PREFIX}(\d{{1,10}})@{re.escape(socket.gethostname())}-\w+", re.ASCII
    )
    removed = []
    with os.scandir(directory) as entries:
        for entry in entries:
            match = named.fullmatch(entry.name)
            if match is None:
                continue
            # rmtree refuses a symbolic link (OSError): only a folder itself is removed
            with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove
                if entry.stat(follow_symlinks=False).st_uid == os.getuid() and not _alive(
                    int(match[1])
                ):
                    shutil.rmtree(entry.path)
                    removed.append(entry.path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # none, or none could be
        return False
    except PermissionError:  # another user's process
        return True
    return True


class _Process:
    """A task's process and the reading end of its record pipe."""

    def __init__(
        self,
        backend: ProcessesBackend,
        task: Task,
        supervisor: Supervisor,
        crash_dir: str | None,
    ) -> None:
        self.backend = backend
        self.task = task
        self.supervisor = supervisor
        self.reported: tuple[str, str] | None = None
        reader, writer = backend.context.Pipe(duplex=False)
        self.crash_path: str | None = None
        if crash_dir is not None:
            with contextlib.suppress(OSError):  # the folder gone (a temp cleaner): no stack then
                handle, self.crash_path = tempfile.mkstemp(prefix=f"{task.name}-", dir=crash_dir)
                os.close(handle)
        self.process = backend.context.Process(
            target=_process_main,
            args=(task, writer, os.getpid(), self.crash_path),
            name=task.name,
            daemon=True,
        )
        self.process.start()
        writer.close()  # the child holds the only writing end: its death ends the pipe
        self.conn: Connection | None = reader
        self.crash_report = ""

    def receive(self) -> None:
        """Hand the records waiting in the pipe to the supervisor."""
        while self.conn is not None and self.conn.poll():
            try:
                record = self.conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError):
                # The end of the pipe, or half a message from a process killed mid-send.
                self.conn.close()
                self.conn = None
                return
            if record[0] == _FAILURE:
                self.reported = (record[1], record[2])
            else:
                self.supervisor.handle(record)

    def done(self) -> bool:
        if self.process.is_alive():
            return False
        self.process.join()
        self.receive()  # what it sent before it ended, up to the end of the pipe
        if self.conn is not None:  # a process it started still holds the writing end
            self.conn.close()
            self.conn = None
        self._read_crash_report()
        return True

    def _read_crash_report(self) -> None:
        if self.crash_path is None:
            return
        with contextlib.suppress(OSError):  # read once: a restarted task writes a new one
            with open(self.crash_path) as report:
                self.crash_report = report.read().strip()
            os.unlink(self.crash_path)

    def failure(self) -> TaskFailure | None:
        code, name, pid = self.process.exitcode, self.task.name, self.process.pid
        if code == 0:
            return None
        if code is not None and code < 0:
            self._free_locks()  # killed from outside, possibly inside a critical section
            signame = signal.Signals(-code).name
            message = f"{name} (pid {pid}) was killed by {signame}"
            if self.crash_report:  # a fatal signal it caught on its way down: where it was
                message += f"\n{self.crash_report}"
            return TaskFailure(name, signame, message)
        if self.reported is not None:
            return TaskFailure(name, *self.reported)
        message = f"{name} (pid {pid}) exited with {code}"
        if self.crash_report:  # a library that caught the signal and exited, or a child's crash
            message += f"\n{self.crash_report}"
        return TaskFailure(name, f"exit code {code}", message)

    def where(self) -> str:
        if self.crash_path is None or not self.process.is_alive():
            return ""
        stack = ""
        with contextlib.suppress(OSError):
            os.kill(self.process.pid or 0, _WHERE_SIGNAL)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:  # written from its signal handler, at once
                time.sleep(0.05)
                with open(self.crash_path) as report:
                    written, stack = stack, report.read().strip()
                if stack and stack == written:  # the dump is complete once it stops growing
                    break
        return stack

    def _free_locks(self) -> None:
        """Release the locks this (dead) process held."""
        for lock in self.backend.locks:
            lock.release_if_held_by(self.process.pid or 0)

    def kill(self) -> None:
        if self.process.is_alive():  # SIGKILL: tasks ignore SIGTERM (see _process_main)
            self.process.kill()
            self.process.join(timeout=2)
            if not self.process.is_alive():
                # Killed perhaps in the middle of a push: the trainer takes the same lock for
                # the final checkpoint, and would wait for it forever.
                self._free_locks()
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self._read_crash_report()


class ProcessesBackend(Backend):
    name = "processes"

    def __init__(self, start_method: str | None = None) -> None:
        self.context: Any = mp.get_context(start_method)
        self.locks: list[OwnedLock] = []

    def cannot_send(self, obj: Any) -> str | None:
        method = self.context.get_start_method()
        if method == "fork":  # the children inherit it
            return None
        try:
            pickle.dumps(obj)
        except Exception as exc:  # PicklingError, AttributeError, TypeError: all mean "cannot"
            return f"the {method!r} start method pickles it: {exc}"
        return None

    def lock(self) -> OwnedLock:
        lock = OwnedLock(self.context)
        self.locks.append(lock)
        return lock

    def event(self) -> SharedFlag:
        return SharedFlag(self.context)

    def run(self, tasks: list[Task], supervisor: Supervisor, stop: StopFlag) -> list[TaskFailure]:
        children: list[_Process] = []
        # The processes' stacks at a fatal signal, one file each, in a folder named after the
        # trainer's pid and host: one killed outright cannot remove it, so the next run does.
        with contextlib.suppress(OSError):  # a temporary folder that cannot be listed
            sweep_crash_dirs()
        try:
            crash_dir: str | None = tempfile.mkdtemp(prefix=crash_dir_prefix())
        except OSError:  # no usable temporary directory: the run goes on without the stacks
            crash_dir = None

        def start(task: Task) -> _Process:
            child = _Process(self, task, supervisor, crash_dir)
            children.append(child)
            return child

        def deliver(timeout: float) -> None:
            readers = {c.conn: c for c in children if c.conn is not None}
            if not readers:
                time.sleep(timeout)
                return
            for conn in wait(list(readers), timeout):
                readers[conn].receive()  # type: ignore[index]

        try:
            return supervise(
                tasks,
                supervisor,
                stop,
                start,
                deliver,
                abandon=lambda child: child.kill(),
                stop_timeout=self.stop_timeout,
            )
        finally:
            if crash_dir is not None:
                shutil.rmtree(crash_dir, ignore_errors=True)
