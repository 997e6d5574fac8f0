"""Workers as Ray actors, on one machine or a cluster; the global model in a parameter server.

- :class:`ParameterServer` (an actor) holds the global weights, the shared optimizer statistics and
  the counters, in a :class:`~a3c.global_model.SharedGlobalModel` of its own. It applies each
  push when it arrives (an actor runs its calls one at a time: updates never interleave) and
  answers with the new weights, so a worker's ``pull`` costs no extra round trip. It measures the
  policy lag of every push: the global updates applied between the pull whose weights computed
  the gradients and the push itself.
- :class:`RayGlobalModel` is the worker loop's view of it (``pull``/``push``, the
  :class:`~a3c.global_model.GlobalModel` protocol). Pushes are asynchronous: up to
  ``ray_max_in_flight`` per worker await their answer, and ``pull`` waits only when the bound is
  reached (1: every rollout uses weights that include the worker's own last update); a pull
  with no answer due (the evaluator's: it never pushes) asks the server. A worker has
  one call in flight at a time; pushes made meanwhile wait in an outbox and travel together in the
  next call, where the server applies them one by one, each an update of its own. A Ray call
  costs both ends a fixed CPU time (about 0.5 ms each on a 2-core machine, whatever its size), so
  under load the cost is shared by the pushes a call carries, and without load a call carries one.
- Each task (a worker, the evaluator) runs in a :class:`_TaskActor` that advances the task's
  generator for a time slice per call and returns the records emitted meanwhile. The driver keeps
  one call in flight per actor, so it notices an actor that dies (process killed, node lost)
  within a slice, and replaces it.
"""

from __future__ import annotations

import collections
import copy
import importlib.util
import logging
import os
import site
import sys
import sysconfig
import threading
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from a3c.backends.base import (
    POLL_INTERVAL,
    Backend,
    BackendError,
    StopFlag,
    Supervisor,
    Task,
    TaskFailure,
    set_up_worker_process,
    supervise,
)
from a3c.config import Config
from a3c.global_model import SharedGlobalModel, Snapshot
from a3c.networks import Model
from a3c.shared_optim import SharedOptimizer

try:
    import ray
    from ray.exceptions import RuntimeEnvSetupError
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ValueError(
        "the ray backend needs Ray: pip install 'a3c[ray]' (or pip install 'ray>=2.9')"
    ) from exc

#: seconds of a task's work per actor call: how fast the driver hears of records and deaths
SLICE = 0.2
#: how old a cached global step may be before ``RayGlobalModel.global_step`` asks again
STEP_REFRESH = 0.1


class Packer:
    """A fixed list of tensors <-> one ``bytes`` object: Ray moves one bytes object in about
    two thirds of the time it takes for a list of arrays (measured: 0.86 vs 1.2 ms a round trip
    on the 2-core machine), and an update is one round trip."""

    def __init__(self, tensors: Sequence[Tensor]) -> None:
        self.layout = [(tuple(t.shape), t.detach().numpy().dtype) for t in tensors]

    @staticmethod
    def pack(tensors: Sequence[Tensor]) -> bytes:
        return b"".join(t.detach().numpy().tobytes() for t in tensors)

    def unpack(self, data: bytes) -> list[np.ndarray]:
        """Read-only arrays viewing ``data``."""
        arrays, offset = [], 0
        for shape, dtype in self.layout:
            count = int(np.prod(shape))
            arrays.append(np.frombuffer(data, dtype, count, offset).reshape(shape))
            offset += count * dtype.itemsize
        return arrays


#: a batch of observations as it travels: bytes, shape and NumPy dtype (uint8 frames stay uint8)
PackedBatch = tuple[bytes, tuple[int, ...], str]


def _pack_batch(batch: Tensor | None) -> PackedBatch | None:
    if batch is None:
        return None
    array = batch.numpy()
    return array.tobytes(), tuple(array.shape), array.dtype.str


def _unpack_batch(packed: PackedBatch | None) -> Tensor | None:
    if packed is None:
        return None
    data, shape, dtype = packed
    return torch.from_numpy(np.frombuffer(data, np.dtype(dtype)).reshape(shape))


Answer = tuple[bytes, int, int, float]  # packed state tensors, global step, updates, lr
#: one push as it travels: packed gradients (None: rejected), steps, packed observations, the
#: global updates the weights that computed the gradients had seen, and packed discounted returns
Push = tuple[bytes | None, int, PackedBatch | None, int, PackedBatch | None]


class ParameterServer:
    """The global model as a Ray actor (created through ``ray.remote``)."""

    def __init__(
        self,
        model: Model,
        optimizers: list[SharedOptimizer],
        config: Config,
        global_step: int,
        updates: int,
    ) -> None:
        torch.set_num_threads(1)
        # Gradients arrive as read-only arrays (zero-copy from Ray's object store); the
        # optimizer only reads them.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        self.shared = SharedGlobalModel(
            model,
            optimizers,
            config.lr,
            config.lr_schedule,
            config.lr_horizon,
            target_interval=config.target_interval if config.value_based else None,
        )
        self.shared.set_counters(global_step, updates)
        self.tensors = self.shared.model.state_tensors()
        self.grads = Packer(self.shared.params)
        self.lags: collections.Counter[int] = collections.Counter()

    def _answer(self, lr: float) -> Answer:
        return Packer.pack(self.tensors), self.shared.global_step, self.shared.updates, lr

    def pull(self) -> Answer:
        """(weights and normaliser statistics, global step, updates, learning rate)."""
        return self._answer(self.shared.learning_rate())

    def push(self, rank: int, pushes: list[Push]) -> Answer:
        """Apply one worker's pushes in order, each an update of its own; answer like
        :meth:`pull`, after the last."""
        lr = self.shared.learning_rate()
        for grads, steps, observations, pulled_updates, returns in pushes:
            if grads is not None:
                self.lags[self.shared.updates - pulled_updates] += 1
            lr = self.shared.push(
                rank,
                None if grads is None else [torch.from_numpy(g) for g in self.grads.unpack(grads)],
                steps,
                _unpack_batch(observations),
                _unpack_batch(returns),
            )
        return self._answer(lr)

    def counters(self) -> tuple[int, int]:
        return self.shared.global_step, self.shared.updates

    def snapshot(self) -> Snapshot:
        return self.shared.snapshot()

    def policy_lags(self) -> dict[int, int]:
        return dict(self.lags)


class RayGlobalModel:
    """The :class:`~a3c.global_model.GlobalModel` of the ray backend: a parameter-server handle.

    Picklable: each worker actor gets its own copy, with its own in-flight pushes.
    """

    def __init__(self, server: Any, template: Model, max_in_flight: int) -> None:
        self.server = server
        self.template = template
        self.max_in_flight = max_in_flight
        self.last_snapshot: Snapshot | None = None
        self._reset()

    def _reset(self) -> None:
        self.call: Any = None  # the push call awaiting its answer
        self.in_call = 0  # the pushes it carries
        self.outbox: list[Push] = []  # pushes made while it was in flight
        self.rank = 0
        self.latest: Answer | None = None
        self.latest_used = False  # a pull has already copied ``latest`` in
        self.packer = Packer(self.template.state_tensors())
        self.pulled_updates = 0
        self.last_lr = 0.0
        self._step, self._step_time = 0, -float("inf")

    def __getstate__(self) -> dict[str, Any]:
        return {k: self.__dict__[k] for k in ("server", "template", "max_in_flight")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    @staticmethod
    def _get(ref: Any) -> Any:
        try:
            return ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            raise BackendError(f"the parameter server died: {exc}") from exc

    def _received(self, answer: Answer) -> None:
        self.latest, self.latest_used = answer, False
        self._step, self._step_time = answer[1], time.monotonic()
        self.last_lr = answer[3]

    @property
    def global_step(self) -> int:
        if time.monotonic() - self._step_time > STEP_REFRESH:
            self._step, _ = self._get(self.server.counters.remote())
            self._step_time = time.monotonic()
        return self._step

    @property
    def updates(self) -> int:
        return int(self._get(self.server.counters.remote())[1])

    def new_local_model(self) -> Model:
        return copy.deepcopy(self.template)

    def _exchange(self, block: bool) -> None:
        """Take the answer to the call in flight if it has come (``block``: wait for it); then,
        with no call in flight, send the outbox."""
        if self.call is not None and (block or ray.wait([self.call], timeout=0)[0]):
            self._received(self._get(self.call))
            self.call, self.in_call = None, 0
        if self.call is None and self.outbox:
            self.call = self.server.push.remote(self.rank, self.outbox)
            self.in_call, self.outbox = len(self.outbox), []

    @torch.no_grad()
    def pull(self, local_model: Model) -> None:
        while self.in_call + len(self.outbox) >= self.max_in_flight:
            self._exchange(block=True)
        self._exchange(block=False)
        if self.call is None and not self.outbox and (self.latest is None or self.latest_used):
            # No answer is due that would bring newer weights (the first pull, the evaluator,
            # which never pushes, or a worker whose pushes have all been answered and used):
            # ask the server, or this pull would copy the weights a previous pull copied.
            self._received(self._get(self.server.pull.remote()))
        assert self.latest is not None
        weights, _, self.pulled_updates, _ = self.latest
        self.latest_used = True
        arrays = self.packer.unpack(weights)
        for tensor, value in zip(local_model.state_tensors(), arrays, strict=True):
            tensor.numpy()[...] = value  # Ray's arrays are read-only views: copy in

    def push(
        self,
        rank: int,
        grads: Sequence[Tensor] | None,
        steps: int,
        observations: Tensor | None = None,
        returns: Tensor | None = None,
    ) -> float:
        self.rank = rank
        self.outbox.append(
            (
                None if grads is None else Packer.pack(grads),
                steps,
                _pack_batch(observations),
                self.pulled_updates,
                _pack_batch(returns),
            )
        )
        self._exchange(block=False)
        return self.last_lr

    def flush(self) -> None:
        """Wait until every push has been applied."""
        while self.call is not None or self.outbox:
            self._exchange(block=True)

    def snapshot(self) -> Snapshot:
        """The parameter server's state; if it has died, the last state taken from it (the
        newest checkpoint's), so that the run still ends with a loadable checkpoint."""
        try:
            self.last_snapshot = Snapshot(*ray.get(self.server.snapshot.remote()))
        except ray.exceptions.RayActorError:
            if self.last_snapshot is None:
                raise
            warnings.warn(
                "the parameter server died: saving the state of the last checkpoint",
                RuntimeWarning,
                stacklevel=2,
            )
        return self.last_snapshot

    def policy_lags(self) -> dict[int, int]:
        return dict(ray.get(self.server.policy_lags.remote()))


class RayStopFlag:
    """The stop flag. In the driver, a flag; in a task's actor, what the driver said with its
    latest call (the actor's copy of the flag reads the actor's process-wide event)."""

    _actor_event = threading.Event()  # per process: one task per actor process

    def __init__(self) -> None:
        self._set = False
        self._in_driver = True

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._set, self._in_driver = False, False

    def is_set(self) -> bool:
        return self._set if self._in_driver else RayStopFlag._actor_event.is_set()

    def set(self) -> None:
        self._set = True


class _TaskActor:
    """Runs one task (created through ``ray.remote``)."""

    def __init__(self, task: Task) -> None:
        set_up_worker_process()
        self.records: list[Any] = []
        self.steps = task.fn(*task.args, records=self)

    def put(self, record: Any) -> None:
        self.records.append(record)

    def stop(self) -> None:
        """Ask the task to stop now. It runs beside a ``run_for`` call in progress (the actor
        takes two calls at once), so that a long step of the task (an evaluation of whole
        games) hears of it at once, not when its slice ends."""
        RayStopFlag._actor_event.set()

    def run_for(self, seconds: float, stop: bool) -> tuple[list[Any], bool, tuple[str, str] | None]:
        """Advance the task for about ``seconds``: (records, finished, (error, traceback))."""
        if stop:
            RayStopFlag._actor_event.set()
        deadline = time.monotonic() + seconds
        finished, error = False, None
        try:
            while time.monotonic() < deadline:
                next(self.steps)
        except StopIteration:
            finished = True
        except Exception as exc:
            finished, error = True, (type(exc).__name__, traceback.format_exc())
        records, self.records = self.records, []
        return records, finished, error


class _ActorHandle:  # the actor's methods are reached through Ray's untyped handles
    """A task's actor and its call in flight, as :func:`supervise` sees it."""

    def __init__(self, backend: RayBackend, task: Task, supervisor: Supervisor, stop: StopFlag):
        self.task, self.supervisor, self.stop = task, supervisor, stop
        # Two calls at once: ``stop`` beside a ``run_for`` in progress.
        options = {"num_cpus": backend.cpus_for(task), "max_concurrency": 2}
        self.actor: Any = backend.actor_class.options(**options).remote(task)
        self.call: Any = self.actor.run_for.remote(SLICE, stop.is_set())  # type: ignore[attr-defined]
        self.finished = False
        self.error: TaskFailure | None = None
        self.stop_sent = False

    def notice_stop(self) -> None:
        """Tell the task at once that the run stops (once)."""
        if not self.stop_sent and not self.finished:
            self.actor.stop.remote()
            self.stop_sent = True

    def collect(self) -> None:
        """The answer to the call in flight has come: hand over its records, call again."""
        try:
            records, finished, error = ray.get(self.call)
        except ray.exceptions.RayActorError as exc:
            self.finished, self.call = True, None
            self.error = TaskFailure(self.task.name, "ActorDiedError", str(exc))
            return
        for record in records:
            self.supervisor.handle(record)
        if error is not None:
            self.error = TaskFailure(self.task.name, *error)
        if finished:
            self.finished, self.call = True, None
            ray.kill(self.actor)
        else:
            self.call = self.actor.run_for.remote(SLICE, self.stop.is_set())

    def done(self) -> bool:
        return self.finished

    def failure(self) -> TaskFailure | None:
        return self.error

    def where(self) -> str:
        return ""  # an actor's stack lies on its node, where `ray stack` shows it

    def kill(self) -> None:
        ray.kill(self.actor)
        self.finished = True


def _auth_hint(address: str | None) -> str:
    """Why joining a cluster at an explicit address may fail where Ray's own tools fail too:
    `ray start` turns token authentication on where a token exists (~/.ray/auth_token), and a
    client joining by address sends its token only under RAY_AUTH_MODE=token (Ray never sends a
    token to an address on its own)."""
    if not address or address == "auto" or os.environ.get("RAY_AUTH_MODE") == "token":
        return ""
    return (
        "; if the cluster uses token authentication (`ray start` turns it on where "
        "~/.ray/auth_token exists), set RAY_AUTH_MODE=token where a3c runs, with the cluster's "
        "token in ~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN"
    )


def modules_to_ship(*modules: str | None) -> list[str]:
    """Where the user's own modules that make the environment live, when they are not installed
    (``--env-module``, the module of a Gymnasium ``"module:Env-v0"`` id or of an
    ``--env-maker``; ``None`` and ``""`` are skipped): for each, the folder of its top-level
    package or its single file. A joined cluster's other machines would not have them (Ray puts
    the driver's working directory on its workers' ``sys.path``, a path that on another machine
    holds something else or nothing), so Ray uploads each to the cluster and puts it on every
    worker's ``sys.path`` (``runtime_env["py_modules"]``). Packages installed in site-packages
    (or the standard library) are the cluster's to install; an editable install's source folder
    is not one of those, so it is shipped."""
    installed = {
        sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")
    }
    installed.update([*site.getsitepackages(), site.getusersitepackages()])
    installed_folders = [Path(path).resolve() for path in installed if path]
    shipped: list[str] = []
    for module in modules:
        if not module or module == "__main__":  # cloudpickle sends __main__'s code by value
            continue
        try:
            spec = importlib.util.find_spec(module.partition(".")[0])
        except (ImportError, ValueError):  # not importable here: nothing to ship
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations is not None:
            folders = list(spec.submodule_search_locations)
            if len(folders) != 1:  # a namespace package spread over folders: Ray ships one
                continue
            where = Path(folders[0]).absolute()
        elif spec.origin and spec.origin.endswith(".py"):
            where = Path(spec.origin).absolute()
        else:  # built in, frozen or compiled: part of an installation
            continue
        # Ray ships the path under its own name (a link's, not its target's): compare resolved.
        if any(where.resolve().is_relative_to(folder) for folder in installed_folders):
            continue
        if str(where) not in shipped:
            shipped.append(str(where))
    return shipped


class RayBackend(Backend):
    """Tasks as Ray actors; the global model in a :class:`ParameterServer` actor."""

    name = "ray"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.started_ray = False
        if not ray.is_initialized():
            address = config.ray_address
            # A local Ray's workers run here, with the driver's sys.path: nothing to ship.
            shipped = (
                modules_to_ship(
                    config.env_module,
                    config.env_id.rpartition(":")[0],
                    (config.env_maker or "").rpartition(":")[0],
                )
                if address
                else []
            )
            for where in shipped:
                print(
                    f"ray backend: shipping {where} to the cluster's workers (not installed)",
                    file=sys.stderr,
                )
            try:
                self._init(address, shipped)
            except RuntimeEnvSetupError as exc:  # shipping the modules failed (too large...)
                raise ValueError(
                    f"cannot ship {', '.join(shipped)} to the Ray cluster: {exc}"
                ) from exc
            except (ConnectionError, RuntimeError) as exc:
                raise ValueError(
                    f"cannot join the Ray cluster at {address}: {exc}{_auth_hint(address)}"
                ) from exc
            self.started_ray = True
        self.server_class = ray.remote(num_cpus=config.ray_server_cpus)(ParameterServer)
        self.actor_class = ray.remote(_TaskActor)
        needed = config.workers * config.ray_cpus_per_worker + config.ray_server_cpus
        available = ray.cluster_resources().get("CPU", 0)
        where = (
            f"joined the Ray cluster at {config.ray_address}"
            if config.ray_address
            else ("started a local Ray" if self.started_ray else "using the running Ray")
        )
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        print(f"ray backend: {where} ({nodes} node(s), {available:g} CPUs)", file=sys.stderr)
        if needed > available:
            warnings.warn(
                f"{config.workers} workers x {config.ray_cpus_per_worker:g} CPUs and "
                f"{config.ray_server_cpus:g} for the parameter server need {needed:g} CPUs; the "
                f"Ray cluster has {available:g}: some workers will wait for a CPU",
                RuntimeWarning,
                stacklevel=2,
            )
        self.global_models: list[RayGlobalModel] = []

    def cannot_send(self, obj: Any) -> str | None:
        try:
            ray.cloudpickle.dumps(obj)
        except Exception as exc:  # whatever Ray's pickler raises means "cannot"
            return f"Ray pickles it: {exc}"
        return None

    @staticmethod
    def _init(address: str | None, shipped: list[str]) -> None:
        ray.init(
            # "local": a new instance, even where `ray start` runs on this machine
            address=address or "local",
            runtime_env={"py_modules": shipped} if shipped else None,
            num_cpus=None if address else os.cpu_count(),
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=True,
        )

    def cpus_for(self, task: Task) -> float:
        # The evaluator is light and must not take a worker's CPU.
        return 0.0 if task.name == "evaluator" else self.config.ray_cpus_per_worker

    def event(self) -> RayStopFlag:
        return RayStopFlag()

    def global_model(
        self,
        model: Model,
        optimizers: list[SharedOptimizer],
        config: Config,
        global_step: int,
        updates: int,
    ) -> RayGlobalModel:
        server = self.server_class.remote(model, optimizers, config, global_step, updates)
        template = copy.deepcopy(model)
        global_model = RayGlobalModel(server, template, config.ray_max_in_flight)
        global_model.last_snapshot = Snapshot.of(model, optimizers, global_step, updates)
        self.global_models.append(global_model)
        return global_model

    def run(self, tasks: list[Task], supervisor: Supervisor, stop: StopFlag) -> list[TaskFailure]:
        handles: list[_ActorHandle] = []

        def start(task: Task) -> _ActorHandle:
            handle = _ActorHandle(self, task, supervisor, stop)
            handles.append(handle)
            return handle

        def deliver(timeout: float) -> None:
            calls = {h.call: h for h in handles if h.call is not None}
            if not calls:
                time.sleep(timeout)
                return
            ready, _ = ray.wait(list(calls), num_returns=1, timeout=timeout)
            if ready:
                ready, _ = ray.wait(list(calls), num_returns=len(calls), timeout=0)
            for call in ready:
                calls[call].collect()
            if stop.is_set():
                for handle in handles:
                    handle.notice_stop()

        return supervise(
            tasks,
            supervisor,
            stop,
            start,
            deliver,
            abandon=lambda handle: handle.kill(),
            stop_timeout=self.stop_timeout,
        )

    def shutdown(self) -> None:
        for global_model in self.global_models:
            ray.kill(global_model.server)
        if self.started_ray:
            ray.shutdown()


__all__ = ["POLL_INTERVAL", "ParameterServer", "RayBackend", "RayGlobalModel", "RayStopFlag"]
