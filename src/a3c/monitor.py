"""Turns worker and evaluator records into the run directory's logs and the console progress bar.

Files (appended on resume): ``episodes.csv`` (one row per finished training episode),
``eval.csv`` (one row per evaluation), ``updates.csv`` (update statistics batched by each worker,
with the number of training episodes the batch brought),
``failures.log`` (each failed task's traceback, written when one fails) and TensorBoard event files
under ``tb/``.
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import re
import sys
import time
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

EPISODE_FIELDS = ("wall_time", "global_step", "rank", "return", "length")
EVAL_FIELDS = ("wall_time", "global_step", "mean_return", "std_return", "mean_length", "episodes")
UPDATE_FIELDS = (
    "wall_time",
    "global_step",
    "rank",
    "updates",
    "skipped",
    "steps",
    "episodes",
    "lr",
    "loss/policy",
    "loss/value",
    "loss/entropy",
    "grad_norm",
    "perf/steps_per_s",
)


@dataclass
class History:
    """The training episodes of a run so far, as its statistics need them: read back from
    ``episodes.csv`` and ``failures.log`` when a run resumes, so that a resumed run reports the
    whole run, not its last segment."""

    stop_at_return: float | None = None
    stop_window: int = 100
    episodes: int = 0
    recent: deque[float] = field(default_factory=deque)
    last100: deque[float] = field(default_factory=lambda: deque(maxlen=100))
    best_last100: float = -np.inf
    solved: tuple[float, int] | None = None  # (wall_time, global_step) when first reached
    restarts: int = 0

    def __post_init__(self) -> None:
        self.recent = deque(self.recent, maxlen=self.stop_window)

    def add(self, wall_time: float, global_step: int, ret: float) -> None:
        """Count one finished training episode (in wall-time order)."""
        self.episodes += 1
        self.recent.append(ret)
        self.last100.append(ret)
        if len(self.last100) == 100:
            self.best_last100 = max(self.best_last100, float(np.mean(self.last100)))
        if (
            self.solved is None
            and self.stop_at_return is not None
            and len(self.recent) == self.recent.maxlen
            and np.mean(self.recent) >= self.stop_at_return
        ):
            self.solved = (wall_time, global_step)

    @property
    def mean_last100(self) -> float:
        return float(np.mean(self.last100)) if self.last100 else float("nan")

    @classmethod
    def read(
        cls,
        run_dir: Path,
        stop_at_return: float | None = None,
        stop_window: int = 100,
        until_step: int | None = None,
    ) -> History:
        """The history logged in ``run_dir`` up to ``until_step`` (the step of the checkpoint a
        run resumes from: what was logged after it was rolled back); empty for a new run."""
        history = cls(stop_at_return, stop_window)
        _, rows, _ = complete_rows(run_dir / "episodes.csv", until_step)
        for row in rows:
            history.add(float(row["wall_time"]), int(row["global_step"]), float(row["return"]))
        failures = run_dir / "failures.log"
        if failures.exists():
            history.restarts = len(RESTART_LINE.findall(failures.read_text()))
        return history


#: how ``failures.log`` says that a task was restarted (counted back on resume)
RESTART_LINE = re.compile(r"^\[[^]]*\] .* failed \(.*\) at step [\d,]+: restart \d+ of", re.M)


def complete_rows(
    path: Path, until_step: int | None = None
) -> tuple[list[str], list[dict[str, str]], bool]:
    """A CSV log's header and the rows written whole (a killed trainer or a full disk can cut
    the last one short), up to ``until_step`` when given; and whether any row was left out."""
    text = path.read_text() if path.exists() else ""
    complete = text[: text.rfind("\n") + 1]  # a last line without its newline was cut short
    lines = list(csv.reader(complete.splitlines()))
    header, rows, left_out = (lines[0] if lines else []), [], len(complete) < len(text)
    for values in lines[1:]:
        row = dict(zip(header, values, strict=False))
        try:
            step = int(row["global_step"])
        except (KeyError, ValueError):
            step = None
        if len(values) != len(header) or step is None or (until_step and step > until_step):
            left_out = True
            continue
        rows.append(row)
    return header, rows, left_out


class _CsvLog:
    """An appended CSV log. When a run resumes (``until_step``: the step of its checkpoint), the
    rows logged after that step are dropped: the training they record was rolled back. A row cut
    short is dropped too, and a log written with other columns (an older a3c) is rewritten with
    these ones, so that every row is read by the header above it."""

    def __init__(self, path: Path, fields: tuple[str, ...], until_step: int | None = None) -> None:
        header, rows, left_out = complete_rows(path, until_step)
        if header and (left_out or tuple(header) != fields):
            with path.open("w", newline="") as f:
                writer = csv.DictWriter(f, fields, restval="", extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
        self.file = path.open("a", newline="")
        self.writer = csv.writer(self.file)
        self.fields = fields
        if not header:
            self.writer.writerow(fields)

    def write(self, row: dict[str, Any]) -> None:
        self.writer.writerow([_fmt(row[f]) for f in self.fields])

    def close(self) -> None:
        self.file.close()


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


class ScalarWriter(Protocol):
    """What the monitor writes scalars to: TensorBoard's ``SummaryWriter``, or a tracker."""

    def add_scalar(self, tag: str, value: float, global_step: int) -> None: ...

    def close(self) -> None: ...


class _Scalars:
    """One ``add_scalar`` to several writers."""

    def __init__(self, writers: list[ScalarWriter]) -> None:
        self.writers = writers

    def add_scalar(self, tag: str, value: float, global_step: int) -> None:
        for writer in self.writers:
            writer.add_scalar(tag, value, global_step)


class Monitor:
    """Consumes records; knows the recent training returns and whether the run is solved.

    Workers send their episodes in batches, so records from different workers arrive out of
    chronological order. Each worker's own records are in order, and its ``updates`` record
    carries the time of its flush: once every worker has reported past time ``t`` (the
    watermark), every episode that ended before ``t`` is known. Episodes are settled in wall-time
    order up to the watermark, so ``episodes.csv`` is chronological and the "last 100 episodes"
    window is the true one, the same that an offline reading of the file computes.
    """

    def __init__(
        self,
        run_dir: Path,
        total_steps: int,
        start_step: int,
        workers: int,
        tensorboard: bool = True,
        progress: bool = True,
        stop_at_return: float | None = None,
        stop_window: int = 100,
        history: History | None = None,
        trackers: Sequence[ScalarWriter] = (),
    ) -> None:
        self.run_dir = run_dir
        until = start_step if start_step > 0 else None  # a resumed run rolls back to its step
        self.episodes_log = _CsvLog(run_dir / "episodes.csv", EPISODE_FIELDS, until)
        self.eval_log = _CsvLog(run_dir / "eval.csv", EVAL_FIELDS, until)
        self.updates_log = _CsvLog(run_dir / "updates.csv", UPDATE_FIELDS, until)
        # The whole run's episodes (those of earlier segments too, when resumed).
        self.history = history or History(stop_at_return, stop_window)
        self.workers = workers
        self.watermarks: dict[int, float] = {}
        self.pending: list[tuple[float, int, int, float, int]] = []  # heap by wall time
        self.errors: list[tuple[str, str]] = []  # (task, traceback) of failures that stop the run
        self.restarts = 0  # in this segment (the limit applies to it)
        self.last_eval: dict[str, float] | None = None
        # TensorBoard's writer and any tracker (W&B) get the same scalars; the trackers are the
        # caller's to close (they outlive the logs: the learning curve goes to them too).
        writers: list[ScalarWriter] = [self._tensorboard()] if tensorboard else []
        writers += trackers
        self.tensorboard = writers[0] if tensorboard else None
        self.tb = _Scalars([w for w in writers if w is not None]) if any(writers) else None
        self._rate_clock = (time.time(), start_step)
        self.steps_per_s = 0.0
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total_steps,
                initial=start_step,
                unit="step",
                unit_scale=True,
                dynamic_ncols=True,
                smoothing=0.1,
            )
        self._bar_step = start_step
        self._last_postfix = 0.0

    def _tensorboard(self) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # pragma: no cover - tensorboard is a dependency
            warnings.warn("tensorboard is not installed: no event files", stacklevel=2)
            return None
        return SummaryWriter(str(self.run_dir / "tb"))

    # -- records ---------------------------------------------------------------------------------
    def handle(self, record: tuple[Any, ...]) -> list[tuple[float, int, int, float, int]]:
        """Log a record; returns the episodes it settled (wall time, step, rank, return,
        length), in the order they ended."""
        kind = record[0]
        if kind == "updates":
            for row in record[1]["finished"]:
                heapq.heappush(self.pending, tuple(row))
            self._updates(record[1])
            self.watermarks[record[1]["rank"]] = record[1]["time"]
            if len(self.watermarks) == self.workers:
                return self.settle(min(self.watermarks.values()))
        elif kind == "eval":
            self.log_eval(record[1])
        return []

    def settle(self, until: float = float("inf")) -> list[tuple[float, int, int, float, int]]:
        """Log, in wall-time order, the pending episodes that ended at or before ``until``;
        returns them."""
        rows = []
        while self.pending and self.pending[0][0] <= until:
            rows.append(heapq.heappop(self.pending))
        for wall_time, step, rank, ret, length in rows:
            self.episodes_log.writer.writerow(
                (f"{wall_time:.3f}", step, rank, f"{ret:.6g}", length)
            )
            self.history.add(wall_time, step, ret)
        if self.tb is not None and rows:
            step = max(r[1] for r in rows)
            self.tb.add_scalar("episode/return", float(np.mean([r[3] for r in rows])), step)
            self.tb.add_scalar("episode/length", float(np.mean([r[4] for r in rows])), step)
        return rows

    def _updates(self, stats: dict[str, Any]) -> None:
        row = dict(stats, wall_time=stats["time"], **{"perf/steps_per_s": self.steps_per_s})
        self.updates_log.write(row)
        if self.tb is not None and stats["updates"]:  # no update applied: no loss to show
            step = stats["global_step"]
            for key in ("loss/policy", "loss/value", "loss/entropy"):
                self.tb.add_scalar(key, stats[key], step)
            self.tb.add_scalar("optim/grad_norm", stats["grad_norm"], step)
            self.tb.add_scalar("optim/lr", stats["lr"], step)
            self.tb.add_scalar("perf/steps_per_s", self.steps_per_s, step)

    def log_eval(self, row: dict[str, float]) -> None:
        self.eval_log.write(row)
        self.last_eval = row
        if self.tb is not None:
            self.tb.add_scalar("eval/mean_return", row["mean_return"], int(row["global_step"]))

    def scalars(self, values: dict[str, float], global_step: int) -> None:
        """Extra figures for TensorBoard (e.g. the policy lag of the ray backend)."""
        if self.tb is not None:
            for key, value in values.items():
                self.tb.add_scalar(key, value, global_step)

    def failure(self, task: str, error: str, message: str, global_step: int, action: str) -> None:
        """Report a failed task (with its traceback) on the console and in ``failures.log``;
        ``action`` says what follows (a restart, or the end of the run)."""
        when = time.strftime("%Y-%m-%d %H:%M:%S")
        head = f"{task} failed ({error}) at step {global_step:,}: {action}"
        with contextlib.suppress(OSError), (self.run_dir / "failures.log").open("a") as log:
            log.write(f"[{when}] {head}\n{message.rstrip()}\n\n")  # best effort: a full disk
        text = f"{head}\n{message.rstrip()}"
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    # -- console ---------------------------------------------------------------------------------
    @property
    def episodes(self) -> int:
        return self.history.episodes

    @property
    def mean_last100(self) -> float:
        return self.history.mean_last100

    @property
    def solved(self) -> tuple[float, int] | None:
        return self.history.solved

    def progress(self, global_step: int) -> None:
        now = time.time()
        clock, step0 = self._rate_clock
        if now - clock >= 1.0:
            self.steps_per_s = (global_step - step0) / (now - clock)
            self._rate_clock = (now, global_step)
        if self.bar is None:
            return
        self.bar.update(max(0, global_step - self._bar_step))
        self._bar_step = max(self._bar_step, global_step)
        if now - self._last_postfix >= 0.5:
            self._last_postfix = now
            postfix = {"eps": self.episodes, "ret100": f"{self.mean_last100:.1f}"}
            if self.last_eval is not None:
                postfix["eval"] = f"{self.last_eval['mean_return']:.1f}"
            self.bar.set_postfix(postfix, refresh=False)

    def flush(self) -> None:
        for log in (self.episodes_log, self.eval_log, self.updates_log):
            log.file.flush()

    def close(self) -> list[tuple[float, int, int, float, int]]:
        """Settle the episodes still pending, close the files; returns those episodes."""
        rows = self.settle()
        if self.bar is not None:
            self.bar.close()
        for log in (self.episodes_log, self.eval_log, self.updates_log):
            log.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
        return rows
