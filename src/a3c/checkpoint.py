"""Checkpoints: written atomically, loaded without executing code (``weights_only=True``).

A checkpoint is a dict of tensors and plain data: model weights (with normaliser statistics), the
optimizer statistics, the counters (global step, updates: the schedule's position), elapsed wall
time, the resolved config, and the spaces the model was built for. (Training draws from its own
generators, seeded from the config and the global step: no global RNG state is saved.)
Environments are not saved (Gymnasium cannot snapshot an env): a resumed run starts new episodes,
with worker seeds derived from the global step so that resumed runs are reproducible too.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from torch import nn

from a3c.config import Config
from a3c.envs import space_to_dict

FORMAT = "a3c-checkpoint"
VERSION = 1
REQUIRED = (
    "model",
    "optimizers",
    "global_step",
    "updates",
    "config",
    "observation_space",
    "action_space",
)


class CheckpointError(ValueError):
    """A file that is not a usable a3c checkpoint (truncated, corrupted, foreign, unsafe)."""


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """Write ``payload`` to ``path`` atomically: a crash leaves the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Serialised in memory first: a full disk then fails the plain write below with its
    # OSError (ENOSPC), where torch.save's zip writer would raise a RuntimeError of its own.
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **payload}, buffer)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a checkpoint; raise :class:`CheckpointError` saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} was refused: it holds objects that would run code when loaded, or is not a "
            f"checkpoint ({str(exc).splitlines()[0]})"
        ) from exc
    except Exception as exc:  # the unpickler raises anything on garbage (KeyError, EOFError...)
        raise CheckpointError(
            f"{path} is truncated or corrupted: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an a3c checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {data.get('version')}, this a3c reads version {VERSION}"
        )
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}")
    return data


def make_payload(
    config: Config,
    observation_space: gym.Space,
    action_space: gym.Space,
    model: nn.Module | dict[str, torch.Tensor],
    optimizer_states: list[dict[str, Any]],
    global_step: int,
    updates: int,
    wall_time: float,
) -> dict[str, Any]:
    """Everything a checkpoint holds, as tensors and plain data (copies, not live tensors).
    ``model``: the network, or its state dict."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    return {
        "model": {k: v.clone() for k, v in state.items()},
        "optimizers": optimizer_states,
        "global_step": global_step,
        "updates": updates,
        "wall_time": wall_time,
        "config": config.to_dict(),
        "observation_space": space_to_dict(observation_space),
        "action_space": space_to_dict(action_space),
    }


_STEP_NAME = re.compile(r"step_(\d+)\.pt$")


def checkpoint_path(run_dir: Path, global_step: int) -> Path:
    return run_dir / "checkpoints" / f"step_{global_step:010d}.pt"


def remove_partial_checkpoints(run_dir: str | Path) -> list[Path]:
    """Delete the temporary files of checkpoints whose writing was cut short (a killed trainer);
    they are never taken for checkpoints, this only frees their space."""
    folder = Path(run_dir) / "checkpoints"
    stale = sorted(folder.glob(".*.tmp")) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint in a run directory (``final.pt`` or the highest step)."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return None
    best: tuple[int, Path] | None = None
    for path in folder.glob("*.pt"):
        try:
            step = int(load_checkpoint(path)["global_step"])
        except CheckpointError:
            continue
        if best is None or step > best[0] or (step == best[0] and path.name == "final.pt"):
            best = (step, path)
    return None if best is None else best[1]


def checkpoint_at(path: str | Path) -> Path:
    """The checkpoint ``path`` names: a file as it is, or a run directory's newest checkpoint
    (:func:`latest_checkpoint`); :class:`CheckpointError` where a directory has none."""
    path = Path(path)
    if not path.is_dir():
        return path
    newest = latest_checkpoint(path)
    if newest is None:
        raise CheckpointError(f"no checkpoint in {path / 'checkpoints'}")
    return newest
