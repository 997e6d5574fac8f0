"""One training run: builds the shared global model, starts the backend's tasks, and turns their
records into logs, checkpoints and a summary. Knows nothing of the algorithm beyond the worker
loop's signature."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from a3c.algorithms import worker_loop
from a3c.backends import Backend, BackendError, Task, TaskFailure, make_backend
from a3c.callbacks import (
    Callback,
    CallbackList,
    Episode,
    Evaluation,
    StopOnNoImprovement,
    StopOnRewardThreshold,
)
from a3c.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    make_payload,
    remove_partial_checkpoints,
    save_checkpoint,
)
from a3c.config import Config
from a3c.distributions import EpsilonGreedy, make_distribution
from a3c.envs import EnvFactory
from a3c.evaluation import (
    EVAL_SEED_OFFSET,
    EvaluationStopped,
    eval_record,
    run_episodes,
    run_evaluator,
)
from a3c.global_model import GlobalModel
from a3c.monitor import History, Monitor
from a3c.networks import CNN, ActorCritic, Model, QNetwork, takes_frames
from a3c.plots import plot_runs
from a3c.shared_optim import SharedAdam, SharedOptimizer, SharedRMSprop, SharedRMSpropTF
from a3c.spaces import is_structured
from a3c.tracking import WandbTracker
from a3c.video import check_video_support


class TrainingError(RuntimeError):
    """A worker or the evaluator failed; the run directory holds a checkpoint of the last state."""


class TrainingInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped the run; its final checkpoint was written and logs flushed."""

    def __init__(self, signum: int, run_dir: Path) -> None:
        self.signum = signum
        self.run_dir = run_dir
        super().__init__(
            f"interrupted by {signal.Signals(signum).name}; final checkpoint in "
            f"{run_dir}/checkpoints/final.pt"
        )


#: seconds within which a second SIGINT/SIGTERM is the first one again: GNU ``timeout`` (and
#: other supervisors) signal both the process and its process group, so the trainer gets it twice
SAME_SIGNAL_WINDOW = 0.5


@contextlib.contextmanager
def graceful_signals(stop: Any) -> Iterator[list[int]]:
    """While training, the first SIGINT or SIGTERM asks every task to stop (so the run ends with
    a checkpoint and flushed logs) and is recorded in the yielded list; a second one, later than
    :data:`SAME_SIGNAL_WINDOW`, raises ``KeyboardInterrupt`` at once. Only the main thread can
    own signal handlers. (Worker processes ignore both signals: a signal sent to the whole
    process group reaches them too, and only the trainer may act on it.)"""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    first_at = [0.0]

    def handler(signum: int, frame: Any) -> None:
        now = time.monotonic()
        if received:
            if now - first_at[0] < SAME_SIGNAL_WINDOW:
                return  # the same request, sent twice (to the process and to its group)
            raise KeyboardInterrupt
        received.append(signum)
        first_at[0] = now
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def build_model(config: Config, observation_space: gym.Space, action_space: gym.Space) -> Model:
    """The algorithm's network for these spaces: an actor-critic, or a Q-network (value-based)."""
    obs_shape = tuple(observation_space.shape or ())
    body = config.network
    structure = observation_space if is_structured(observation_space) else None
    if body == "auto":  # a CNN for uint8 frames in any layout the network reads
        frames = structure is None and takes_frames(obs_shape, observation_space.dtype)
        body = "cnn" if frames else "mlp"  # (a structured observation's images: a CNN each)
    # resolved where the agent is made (A3C): "auto" here reads no mask
    masks = config.action_mask not in ("auto", "none")
    if config.value_based:
        if not isinstance(action_space, gym.spaces.Discrete):
            raise ValueError(
                f"{config.algo} learns Q-values of discrete actions; {config.env_id} has "
                f"{action_space}: use --algo a3c for other actions"
            )
        return QNetwork(
            obs_shape,
            EpsilonGreedy(int(action_space.n), int(action_space.start), config.eval_epsilon),
            hidden_sizes=config.hidden_sizes,
            activation=config.activation,
            init=config.init,
            normalize_obs=config.normalize_obs,
            body=body,
            pixels=observation_space.dtype == np.uint8,
            structure=structure,
            cnn_precision=config.cnn_precision,
            word_conditioning=config.word_conditioning,
            action_mask=masks,
        )
    return ActorCritic(
        obs_shape,
        make_distribution(action_space, config.box_distribution),
        hidden_sizes=config.hidden_sizes,
        activation=config.activation,
        shared_trunk=config.shared_trunk,
        value_hidden_sizes=config.value_hidden_sizes,
        gaussian_mean=config.gaussian_mean,
        std_mode=config.std_mode,
        min_std=config.min_std,
        init_log_std=config.init_log_std,
        init=config.init,
        normalize_obs=config.normalize_obs,
        normalize_reward=config.normalize_reward,
        body=body,
        lstm_size=config.lstm_size if config.lstm else None,
        lstm_input_norm=config.lstm_input_norm,
        pixels=observation_space.dtype == np.uint8,
        structure=structure,
        cnn_precision=config.cnn_precision,
        word_conditioning=config.word_conditioning,
        action_mask=masks,
    )


def build_optimizers(config: Config, model: Model) -> list[SharedOptimizer]:
    """One optimizer whose statistics all workers share, or one per worker."""
    params = list(model.parameters())
    value_only = {id(p) for p in model.value_parameters()}
    scale = 1.0 if config.value_lr is None else config.value_lr / config.lr
    lr_scales = [scale if id(p) in value_only else 1.0 for p in params]
    count = 1 if config.shared_optimizer else config.workers

    def make() -> SharedOptimizer:
        if config.optimizer in ("rmsprop", "rmsprop_tf"):
            rmsprop = SharedRMSprop if config.optimizer == "rmsprop" else SharedRMSpropTF
            return rmsprop(
                params, alpha=config.rms_alpha, eps=config.optim_eps, lr_scales=lr_scales
            )
        return SharedAdam(
            params,
            betas=(config.adam_beta1, config.adam_beta2),
            eps=config.optim_eps,
            lr_scales=lr_scales,
        )

    return [make() for _ in range(count)]


@dataclass
class TrainingSummary:
    run_dir: str
    global_step: int
    updates: int
    wall_time: float
    episodes: int
    mean_last100: float | None
    best_mean_last100: float | None
    solved_step: int | None
    solved_wall_time: float | None
    final_eval_mean: float | None
    final_eval_std: float | None
    restarts: int = 0
    policy_lag: dict[str, Any] | None = None  # where the backend measures it (ray)
    stopped_by: str | None = None  # the callback that stopped the run, and why

    def to_dict(self) -> dict[str, Any]:
        """Plain data for strict JSON: a figure that does not exist yet (no episode finished,
        fewer than 100 episodes) is ``None``, never NaN or infinity."""
        return {
            k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in asdict(self).items()
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")

    @classmethod
    def read(cls, path: Path) -> TrainingSummary:
        return cls(**json.loads(path.read_text()))


def config_callbacks(config: Config) -> list[Callback]:
    """The shipped callbacks a config asks for (``stop_at_eval_return``, ``stop_patience``)."""
    callbacks: list[Callback] = []
    if config.stop_at_eval_return is not None:
        callbacks.append(StopOnRewardThreshold(config.stop_at_eval_return))
    if config.stop_patience is not None:
        callbacks.append(StopOnNoImprovement(config.stop_patience))
    return callbacks


def lag_summary(histogram: dict[int, int]) -> dict[str, Any] | None:
    """Mean, median, 95th percentile and maximum of a policy-lag histogram, and the histogram."""
    if not histogram:
        return None
    lags = np.repeat(np.array(list(histogram), dtype=float), list(histogram.values()))
    return {
        "mean": float(lags.mean()),
        "median": float(np.median(lags)),
        "p95": float(np.percentile(lags, 95)),
        "max": int(lags.max()),
        "histogram": {str(k): histogram[k] for k in sorted(histogram)},
    }


def check_cores(workers: int, backend: str) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if backend in ("threads", "processes") and cores is not None and workers > cores:
        warnings.warn(
            f"{workers} workers on {cores} CPU cores: workers will compete for cores and each "
            f"will run slower; consider --workers {cores}",
            RuntimeWarning,
            stacklevel=3,
        )


def check_bfloat16(model: Model) -> None:
    """Warn where a bfloat16 CNN would run slower than float32: oneDNN has no bfloat16 kernels
    for this CPU (it needs AVX-512, fast with AVX-512 BF16 or AMX)."""
    bfloat16 = any(isinstance(m, CNN) and m.precision == "bfloat16" for m in model.modules())
    if bfloat16 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        warnings.warn(
            "--cnn-precision bfloat16 on a CPU without oneDNN's bfloat16 kernels (AVX-512): the "
            "CNN will run slower than in float32",
            RuntimeWarning,
            stacklevel=3,
        )


class Trainer:
    """Runs training from a model and its optimizer statistics until ``config.total_steps``."""

    def __init__(
        self,
        config: Config,
        model: Model,
        observation_space: gym.Space,
        action_space: gym.Space,
        run_dir: Path,
        optimizer_states: list[dict[str, Any]] | None = None,
        global_step: int = 0,
        updates: int = 0,
        wall_time: float = 0.0,
        callback: Callback | Sequence[Callback] | None = None,
        env_factory: EnvFactory | None = None,
    ) -> None:
        self.config = config.validate()
        self.callbacks = CallbackList(
            [*CallbackList(callback).callbacks, *config_callbacks(config)]
        )
        self.model = model
        self.observation_space = observation_space
        self.action_space = action_space
        self.run_dir = run_dir
        self.optimizers = build_optimizers(config, model)
        if optimizer_states is not None:
            if len(optimizer_states) != len(self.optimizers):
                raise ValueError(
                    f"checkpoint has {len(optimizer_states)} optimizer states, the "
                    f"config needs {len(self.optimizers)} (shared_optimizer/workers "
                    "changed?)"
                )
            for opt, state in zip(self.optimizers, optimizer_states, strict=True):
                opt.load_state_dict(state)
        self.start_step = global_step
        self.start_updates = updates
        self.wall_offset = wall_time
        self.env_factory = env_factory or EnvFactory.from_config(config)
        self.final_state: dict[str, Any] | None = None  # the last payload saved, once run
        self.summary: TrainingSummary | None = None

    def payload(self, global_model: GlobalModel, wall_time: float) -> dict[str, Any]:
        snapshot = global_model.snapshot()
        return make_payload(
            self.config,
            self.observation_space,
            self.action_space,
            snapshot.model,
            snapshot.optimizers,
            snapshot.global_step,
            snapshot.updates,
            wall_time,
        )

    def save_periodic(self, global_model: GlobalModel, start_time: float) -> tuple[Path, int]:
        """``checkpoints/step_<global step>.pt``, named by the step the snapshot holds; returns
        the path and the step."""
        payload = self.payload(global_model, time.time() - start_time)
        path = checkpoint_path(self.run_dir, payload["global_step"])
        save_checkpoint(payload, path)
        return path, payload["global_step"]

    def run(self) -> TrainingSummary:
        config = self.config
        # A resumed run reports (and stops on) the whole run, not its last segment.
        history = (
            History.read(
                self.run_dir, config.stop_at_return, config.stop_window, until_step=self.start_step
            )
            if self.start_step > 0
            else None
        )
        done = self._already_done(history)
        if done is not None:  # nothing to train: leave the run directory as it is
            assert history is not None
            warnings.warn(done, UserWarning, stacklevel=3)
            self.summary = self._summary_of_finished_run(history)
            return self.summary
        if config.lr_schedule == "linear" and config.total_steps > config.lr_horizon:
            warnings.warn(
                f"the linear learning-rate schedule reaches 0 at step {config.lr_horizon:,} "
                f"(lr_anneal_steps), before total_steps {config.total_steps:,}: the steps after "
                "it train with lr 0 (set lr_anneal_steps to anneal over a longer horizon)",
                RuntimeWarning,
                stacklevel=3,
            )
        try:  # fail before any worker starts, not at the first checkpoint
            self.run_dir.mkdir(parents=True, exist_ok=True)
            config.save(self.run_dir / "config.json")
            remove_partial_checkpoints(self.run_dir)
        except OSError as exc:
            raise ValueError(f"cannot write the run directory {self.run_dir}: {exc}") from exc
        check_cores(config.workers, config.backend)
        check_bfloat16(self.model)
        backend = make_backend(config)
        try:
            self._check_env_travels(backend)
            if config.video_interval:
                check_video_support(self.env_factory)
            self._run(backend, history)
        finally:
            backend.shutdown()
        assert self.summary is not None
        return self.summary

    def _check_env_travels(self, backend: Backend) -> None:
        """An environment callable that the backend cannot send to its workers: a clear error
        now, not a pickling traceback from a worker's start."""
        if self.env_factory.make_env is None:
            return  # an id, or a module-level callable's name: plain data
        why = backend.cannot_send(self.env_factory)
        if why is not None:
            raise ValueError(
                f"the environment callable {self.env_factory.env_maker} cannot be sent to the "
                f"workers ({why}): define it at module level (not a lambda, nor a function "
                "inside a function; functools.partial of a module-level function works), or "
                "use start_method='fork' or backend='threads'"
            )

    def _already_done(self, history: History | None) -> str | None:
        """Why a resumed run has nothing to train, or ``None``."""
        config = self.config
        if history is None:
            return None
        if self.start_step >= config.total_steps:
            return (
                f"{self.run_dir} is at step {self.start_step:,} of its total_steps "
                f"{config.total_steps:,}: nothing to train (give a larger total_steps to train on)"
            )
        if history.solved is not None:
            return (
                f"{self.run_dir} reached its stop_at_return ({config.stop_at_return:g}) at step "
                f"{history.solved[1]:,}: nothing to train (set stop_at_return to none, or "
                "higher, to train on)"
            )
        return None

    def _summary_of_finished_run(self, history: History) -> TrainingSummary:
        path = self.run_dir / "summary.json"
        if path.exists():
            with contextlib.suppress(ValueError, TypeError):
                return TrainingSummary.read(path)
        return self._summary(history, self.start_step, self.start_updates, self.wall_offset)

    def _summary(
        self,
        history: History,
        global_step: int,
        updates: int,
        wall_time: float,
        final_eval: dict[str, float] | None = None,
        restarts: int = 0,
        policy_lags: dict[int, int] | None = None,
        stopped_by: str | None = None,
    ) -> TrainingSummary:
        return TrainingSummary(
            run_dir=str(self.run_dir),
            global_step=global_step,
            updates=updates,
            wall_time=wall_time,
            episodes=history.episodes,
            mean_last100=history.mean_last100,
            best_mean_last100=history.best_last100,
            solved_step=None if history.solved is None else history.solved[1],
            solved_wall_time=None if history.solved is None else history.solved[0],
            final_eval_mean=None if final_eval is None else final_eval["mean_return"],
            final_eval_std=None if final_eval is None else final_eval["std_return"],
            restarts=history.restarts + restarts,
            policy_lag=lag_summary(policy_lags or {}),
            stopped_by=stopped_by,
        )

    def _run(self, backend: Backend, history: History | None) -> None:
        config = self.config
        global_model = backend.global_model(
            self.model, self.optimizers, config, self.start_step, self.start_updates
        )
        stop = backend.event()
        start_time = time.time() - self.wall_offset
        tracker = WandbTracker(config, self.run_dir) if config.wandb else None
        try:
            self._supervise(backend, history, global_model, stop, start_time, tracker)
        except BaseException:
            if tracker is not None:
                tracker.finish(None, None, failed=True)
            raise

    def _supervise(
        self,
        backend: Backend,
        history: History | None,
        global_model: GlobalModel,
        stop: Any,
        start_time: float,
        tracker: WandbTracker | None,
    ) -> None:
        config = self.config
        common = (config, global_model, self.env_factory, stop, start_time)
        tasks = [
            Task(f"worker-{rank}", worker_loop(config.algo), (rank, *common))
            for rank in range(config.workers)
        ]
        if config.eval_interval > 0:
            poll_interval = 0.05 if backend.tasks_may_wait else 0.0
            video_dir = self.run_dir / "videos" if config.video_interval else None
            tasks.append(Task("evaluator", run_evaluator, (*common, poll_interval, video_dir)))

        monitor = Monitor(
            self.run_dir,
            config.total_steps,
            self.start_step,
            config.workers,
            config.tensorboard,
            config.progress,
            config.stop_at_return,
            config.stop_window,
            history,
            trackers=[tracker] if tracker is not None else [],
        )
        supervision = _Supervision(self, global_model, monitor, stop, start_time)
        self.callbacks.on_training_start(config, self.run_dir)
        failures, completed, final_saved = [], False, False
        with graceful_signals(stop) as signals:
            try:
                try:
                    failures = backend.run(tasks, supervision, stop)
                    supervision.log_policy_lag(global_model.global_step)
                except BackendError as exc:
                    supervision.abort("backend", type(exc).__name__, str(exc))
                # Those that came after the stop request. A worker killed from outside once the
                # run had ended (its steps done, or solved) loses at most its last records: it is
                # reported, and the run stands.
                ended = not monitor.errors and not signals
                forgiven = [f for f in failures if ended and _killed(f)]
                for failure in failures:
                    monitor.failure(
                        failure.name,
                        failure.error,
                        failure.message,
                        supervision.last_step,
                        "after the stop request"
                        + ("; the run had ended, so it stands" if failure in forgiven else ""),
                    )
                failures = [f for f in failures if f not in forgiven]
                completed = (
                    not failures
                    and not monitor.errors
                    and not signals
                    and supervision.write_error is None
                )
            except BaseException:  # Ctrl-C, or an exception from a callback: end the tasks too
                stop.set()
                raise
            finally:
                wall_time = time.time() - start_time
                self.final_state = self.payload(global_model, wall_time)
                final_saved = supervision.write(
                    "checkpoints/final.pt",
                    save_checkpoint,
                    self.final_state,
                    self.run_dir / "checkpoints" / "final.pt",
                )
                # The global weights into the trainer's model: a copy onto itself where the
                # global model lives in this process's shared memory, the news from elsewhere.
                self.model.load_state_dict(self.final_state["model"])
                final_eval = None
                if config.eval_interval > 0 and completed:  # not after an interrupt or a failure
                    with contextlib.suppress(EvaluationStopped):  # a signal meanwhile
                        result = run_episodes(
                            self.model,
                            self.env_factory,
                            config.eval_episodes,
                            config.eval_deterministic,
                            config.seed + EVAL_SEED_OFFSET,
                            _SignalReceived(signals),
                        )
                        final_eval = eval_record(result, global_model.global_step, wall_time)
                        supervision.write("eval.csv", monitor.log_eval, final_eval)
                        self.callbacks.on_evaluation(Evaluation.from_row(final_eval, final=True))
                last: list[tuple[float, int, int, float, int]] = []
                supervision.write("the logs", lambda: last.extend(monitor.close()))
                if self.callbacks.callbacks and completed:
                    for row in last:  # settled as the logs closed: too late to stop anything
                        self.callbacks.on_episode(Episode(*row), can_stop=False)
        summary = self.summary = self._summary(
            monitor.history,
            self.final_state["global_step"],
            self.final_state["updates"],
            wall_time,
            final_eval,
            monitor.restarts,
            supervision.policy_lags,
            self.callbacks.stopped_by,
        )
        supervision.write("summary.json", summary.write, self.run_dir / "summary.json")
        supervision.write(
            "learning_curve.png",
            plot_runs,
            [self.run_dir],
            self.run_dir / "learning_curve.png",
            title=config.env_id,
        )
        if tracker is not None:
            failed = bool(supervision.write_error or signals or failures or monitor.errors)
            tracker.finish(summary.to_dict(), self.run_dir / "learning_curve.png", failed)
        if supervision.write_error is not None:
            newest = latest_checkpoint(self.run_dir)
            raise TrainingError(
                f"training stopped: {supervision.write_error}; "
                + (
                    f"the newest complete checkpoint is {newest}"
                    if newest is not None
                    else "no complete checkpoint was written"
                )
            )
        if signals and not (failures or monitor.errors):
            raise TrainingInterrupted(signals[0], self.run_dir)
        if failures or monitor.errors:
            details = "\n".join(
                [f"{name}: {msg}" for name, msg in monitor.errors]
                + [f"{f.name}: {f.message}" for f in failures]
            )
            saved = (
                f"last state saved in {self.run_dir}/checkpoints/final.pt"
                if final_saved
                else "the final checkpoint could not be written"
            )
            raise TrainingError(f"training failed; {saved}\n{details}")
        self.callbacks.on_training_end(summary)


def _killed(failure: TaskFailure) -> bool:
    """Whether a task was killed from outside (``kill``, the OOM killer), not crashed."""
    return failure.error in ("SIGKILL", "SIGTERM")


class _SignalReceived:
    """A stop flag set by a signal only (the run's own stop flag is set once training ends)."""

    def __init__(self, signals: list[int]) -> None:
        self.signals = signals

    def is_set(self) -> bool:
        return bool(self.signals)


class _Supervision:
    """The trainer's side of a backend's supervision: records into logs, periodic checkpoints,
    restarts within ``max_restarts``, and a watchdog on the global step."""

    def __init__(
        self,
        trainer: Trainer,
        global_model: GlobalModel,
        monitor: Monitor,
        stop: Any,
        start_time: float,
    ) -> None:
        self.trainer = trainer
        self.config = trainer.config
        self.global_model = global_model
        self.monitor = monitor
        self.stop = stop
        self.start_time = start_time
        interval = self.config.checkpoint_interval
        step = global_model.global_step
        self.next_checkpoint = (step // interval + 1) * interval if interval else None
        self.last_step, self.last_move = step, time.monotonic()
        self.policy_lags: dict[int, int] = {}
        self.next_lag_log = time.monotonic()
        self.write_error: str | None = None  # the first file the run could not write

    def write(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """``fn(*args, **kwargs)``, which writes ``what`` into the run directory. A failed write
        (a full disk: ENOSPC, a quota, an I/O error) stops the run, remembered once; the files
        already complete stay as they are (checkpoints are written atomically). Returns whether
        it succeeded."""
        try:
            fn(*args, **kwargs)
            return True
        except OSError as exc:
            if self.write_error is None:
                self.write_error = f"cannot write {what} in {self.trainer.run_dir}: {exc}"
            self.stop.set()
            return False

    def handle(self, record: Any) -> None:
        settled: list[tuple[float, int, int, float, int]] = []
        self.write("the logs", lambda: settled.extend(self.monitor.handle(record)))
        if self.monitor.solved is not None:
            self.stop.set()
        callbacks = self.trainer.callbacks
        if not callbacks.callbacks:
            return
        go_on = [callbacks.on_episode(Episode(*row)) for row in settled]
        kind, data = record[0], record[1]
        if kind == "updates":
            go_on.append(callbacks.on_update({k: v for k, v in data.items() if k != "finished"}))
        elif kind == "eval":
            go_on.append(callbacks.on_evaluation(Evaluation.from_row(data)))
        if False in go_on:
            self.stop.set()

    def tick(self) -> None:
        config, step = self.config, self.global_model.global_step
        self.monitor.progress(step)
        if self.next_checkpoint is not None and step >= self.next_checkpoint:
            saved: list[tuple[Path, int]] = []
            self.write(
                "a checkpoint",
                lambda: saved.append(
                    self.trainer.save_periodic(self.global_model, self.start_time)
                ),
            )
            if saved and self.trainer.callbacks.on_checkpoint(*saved[0]) is False:
                self.stop.set()
            self.next_checkpoint = (
                step // config.checkpoint_interval + 1
            ) * config.checkpoint_interval
        now = time.monotonic()
        if step != self.last_step:
            self.last_step, self.last_move = step, now
        elif (
            config.stall_timeout
            and now - self.last_move > config.stall_timeout
            and not self.stop.is_set()
        ):
            self.abort(
                "watchdog",
                "Stalled",
                f"the global step has not moved from {step:,} for "
                f"{config.stall_timeout:g} s (a worker hung in its environment?)",
            )
        if now >= self.next_lag_log:  # a round trip to a parameter server: not every tick
            self.next_lag_log = now + 5.0
            self.log_policy_lag(step)
        if step >= config.total_steps:
            self.stop.set()  # every task is due to end now; one that hangs will be given up
        self.write("the logs", self.monitor.flush)

    def log_policy_lag(self, step: int) -> None:
        with contextlib.suppress(Exception):  # a dead parameter server: keep the last figures
            self.policy_lags = self.global_model.policy_lags()
        summary = lag_summary(self.policy_lags)
        if summary is not None:
            self.monitor.scalars(
                {"policy_lag/mean": summary["mean"], "policy_lag/p95": summary["p95"]}, step
            )

    def restart(self, failure: TaskFailure) -> bool:
        monitor, limit = self.monitor, self.config.max_restarts
        if failure.error in ("FloatingPointError", "BackendError"):
            # The NaN limit, or a lost parameter server: a restart would not help.
            self.abort(failure.name, failure.error, failure.message)
            return False
        if monitor.restarts >= limit:
            why = f"no restart left ({limit} used)" if limit else "restarts are off"
            self.abort(failure.name, failure.error, failure.message, why)
            return False
        monitor.restarts += 1
        monitor.failure(
            failure.name,
            failure.error,
            failure.message,
            self.last_step,
            f"restart {monitor.restarts} of {limit}, from the global weights",
        )
        return True

    def abort(self, name: str, error: str, message: str, why: str = "") -> None:
        self.monitor.failure(
            name,
            error,
            message,
            self.last_step,
            f"stopping the run{f' ({why})' if why else ''}; a checkpoint will be saved",
        )
        self.monitor.errors.append((name, message))
        self.stop.set()
