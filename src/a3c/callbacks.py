"""Callbacks: user code that sees what the trainer sees, and may stop the run.

They run in the trainer's process (whatever the backend: workers send their records there), on
what the run directory's logs get: each training episode (in chronological order, as
``episodes.csv``), each batch of update statistics a worker sends (as ``updates.csv``), each
evaluation (as ``eval.csv``), each periodic checkpoint. Stable-Baselines3's convention: a hook that
returns ``False`` stops the run; it then ends as at ``total_steps`` (final checkpoint, final
evaluation, summary), and the summary's ``stopped_by`` says which callback stopped it and why.

>>> from a3c import A3C                                              # doctest: +SKIP
>>> from a3c.callbacks import StopOnNoImprovement, StopOnRewardThreshold  # doctest: +SKIP
>>> A3C("CartPole-v1", eval_interval=10_000).learn(                  # doctest: +SKIP
...     callback=[StopOnRewardThreshold(475), StopOnNoImprovement(patience=5)])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from a3c.config import Config
    from a3c.trainer import TrainingSummary


@dataclass(frozen=True)
class Episode:
    """A finished training episode (raw reward, whole game)."""

    wall_time: float
    global_step: int
    rank: int
    episode_return: float
    length: int


@dataclass(frozen=True)
class Evaluation:
    """An evaluation of the global policy (``config.eval_episodes`` episodes)."""

    wall_time: float
    global_step: int
    mean_return: float
    std_return: float
    mean_length: float
    episodes: int
    final: bool = False  # the one after training ended: returning False changes nothing

    @classmethod
    def from_row(cls, row: dict[str, Any], final: bool = False) -> Evaluation:
        """From an ``eval.csv`` row."""
        return cls(
            wall_time=float(row["wall_time"]),
            global_step=int(row["global_step"]),
            mean_return=float(row["mean_return"]),
            std_return=float(row["std_return"]),
            mean_length=float(row["mean_length"]),
            episodes=int(row["episodes"]),
            final=final,
        )


class Callback:
    """Override the hooks you need; each returns ``None`` (go on) or ``False`` (stop).

    A callback that stops the run may set ``stop_reason`` to say why (it goes into the summary).
    """

    stop_reason: str | None = None

    def on_training_start(self, config: Config, run_dir: Path) -> None:
        """Once, before the workers start."""

    def on_episode(self, episode: Episode) -> bool | None:
        """Each finished training episode, in the order they ended (the last few, settled as
        the run ends, after the stop: their answer is ignored)."""
        return None

    def on_update(self, stats: dict[str, Any]) -> bool | None:
        """Each batch of update statistics a worker sends: its ``rank``, the ``global_step``,
        ``updates`` applied, ``lr``, ``loss/policy``, ``loss/value``, ``loss/entropy``,
        ``grad_norm`` (the means over the batch)."""
        return None

    def on_evaluation(self, evaluation: Evaluation) -> bool | None:
        """Each evaluation (with ``eval_interval`` > 0), the final one included."""
        return None

    def on_checkpoint(self, path: Path, global_step: int) -> bool | None:
        """Each periodic checkpoint, once written (not the final one)."""
        return None

    def on_training_end(self, summary: TrainingSummary) -> None:
        """Once, with the run's summary, after a normal end (not after a failure)."""


class CallbackList(Callback):
    """Several callbacks, called in order; the first to return ``False`` is the reason."""

    def __init__(self, callbacks: Callback | Sequence[Callback] | None = None) -> None:
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            callbacks = [callbacks]
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"a callback must be an a3c.callbacks.Callback, not {type(callback).__name__}"
                    " (subclass Callback and override the hooks you need)"
                )
        self.callbacks = list(callbacks)
        self.stopped_by: str | None = None

    def _dispatch(self, hook: str, *args: Any, can_stop: bool = True) -> bool | None:
        go_on: bool | None = None
        for callback in self.callbacks:
            if getattr(callback, hook)(*args) is False and can_stop:
                go_on = False
                if self.stopped_by is None:
                    reason = callback.stop_reason or f"{hook} returned False"
                    self.stopped_by = f"{type(callback).__name__}: {reason}"
        return go_on

    def on_training_start(self, config: Config, run_dir: Path) -> None:
        self._dispatch("on_training_start", config, run_dir, can_stop=False)

    def on_episode(self, episode: Episode, can_stop: bool = True) -> bool | None:
        return self._dispatch("on_episode", episode, can_stop=can_stop)

    def on_update(self, stats: dict[str, Any]) -> bool | None:
        return self._dispatch("on_update", stats)

    def on_evaluation(self, evaluation: Evaluation) -> bool | None:
        # The final evaluation comes after the run ended: nothing left to stop.
        return self._dispatch("on_evaluation", evaluation, can_stop=not evaluation.final)

    def on_checkpoint(self, path: Path, global_step: int) -> bool | None:
        return self._dispatch("on_checkpoint", path, global_step)

    def on_training_end(self, summary: TrainingSummary) -> None:
        self._dispatch("on_training_end", summary, can_stop=False)


class StopOnRewardThreshold(Callback):
    """Stop once an evaluation's mean return reaches ``threshold`` (SB3's
    ``StopTrainingOnRewardThreshold``). Needs ``eval_interval`` > 0; unlike ``stop_at_return``,
    which watches the training episodes, it judges the evaluated (by default greedy) policy."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def on_evaluation(self, evaluation: Evaluation) -> bool | None:
        if not evaluation.final and evaluation.mean_return >= self.threshold:
            self.stop_reason = (
                f"evaluation mean {evaluation.mean_return:.6g} >= {self.threshold:g} "
                f"at step {evaluation.global_step:,}"
            )
            return False
        return None


class StopOnNoImprovement(Callback):
    """Stop when ``patience`` evaluations in a row have not beaten the best mean return so far
    by more than ``min_delta``, counting from the ``min_evaluations``-th evaluation (SB3's
    ``StopTrainingOnNoModelImprovement``)."""

    def __init__(self, patience: int, min_evaluations: int = 0, min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience = patience
        self.min_evaluations = min_evaluations
        self.min_delta = min_delta
        self.best = float("-inf")
        self.evaluations = 0
        self.without_improvement = 0

    def on_evaluation(self, evaluation: Evaluation) -> bool | None:
        if evaluation.final:
            return None
        self.evaluations += 1
        if evaluation.mean_return > self.best + self.min_delta:
            self.best, self.without_improvement = evaluation.mean_return, 0
        elif self.evaluations > self.min_evaluations:
            self.without_improvement += 1
        if self.without_improvement >= self.patience:
            self.stop_reason = (
                f"{self.patience} evaluations without improving on {self.best:.6g} "
                f"(step {evaluation.global_step:,})"
            )
            return False
        return None
