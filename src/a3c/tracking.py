"""Experiment tracking with Weights & Biases (the ``wandb`` extra): ``--wandb``.

The run gets the scalars TensorBoard gets (the monitor writes both), against the global step
(W&B's own step counts log calls: the workers' records arrive out of step order), the resolved
config, the summary, and the learning-curve image. The W&B run lives in the run directory
(``wandb/``) and its id in ``wandb-run-id.txt``, so a resumed run continues the same W&B run.
``WANDB_MODE=offline`` (W&B's own setting) keeps everything local, to ``wandb sync`` later.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from a3c.config import Config

WANDB_EXTRA_HINT = '--wandb needs the wandb package: pip install "a3c[wandb]"'


class WandbTracker:
    """A W&B run for one training run directory; a :class:`~a3c.monitor.ScalarWriter`."""

    def __init__(self, config: Config, run_dir: Path) -> None:
        try:
            import wandb
        except ImportError as exc:
            raise ValueError(WANDB_EXTRA_HINT) from exc
        self.wandb = wandb
        id_file = run_dir / "wandb-run-id.txt"
        run_id = id_file.read_text().strip() if id_file.exists() else secrets.token_hex(4)
        self.run: Any = wandb.init(
            project=config.wandb_project,
            entity=config.wandb_entity,
            name=config.wandb_name or run_dir.name,
            id=run_id,
            resume="allow",
            dir=str(run_dir),
            config=config.to_dict(),
        )
        id_file.write_text(run_id + "\n")
        self.finished = False
        self.run.define_metric("global_step")
        self.run.define_metric("*", step_metric="global_step")

    def add_scalar(self, tag: str, value: float, global_step: int) -> None:
        self.run.log({tag: float(value), "global_step": int(global_step)})

    def finish(
        self, summary: dict[str, Any] | None, learning_curve: Path | None, failed: bool = False
    ) -> None:
        """The summary and the learning curve, then the end of the W&B run (marked failed for a
        run that failed or was interrupted); once."""
        if self.finished:
            return
        self.finished = True
        if summary is not None:
            self.run.summary.update({f"summary/{k}": v for k, v in summary.items()})
        if learning_curve is not None and learning_curve.exists():
            self.run.log({"learning_curve": self.wandb.Image(str(learning_curve))})
        self.run.finish(exit_code=1 if failed else 0)

    def close(self) -> None:
        """Nothing: the trainer finishes the run once the learning curve is drawn."""
