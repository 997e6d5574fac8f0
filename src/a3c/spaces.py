"""Observation spaces beyond ``Box``: ``Discrete``, ``MultiDiscrete``, ``MultiBinary``, and
``Dict``/``Tuple`` of those and of ``Box`` (nested too), as Stable-Baselines3 takes them.

They travel as one flat vector, Gymnasium's own flattening (:func:`gymnasium.spaces.flatten`:
discrete parts one-hot, the parts in the space's order), so that rollouts, normalisers and
backends keep handling plain arrays. The network knows the layout (:func:`flat_parts`) and gives
each part its encoder: an image part its own CNN, every other part one shared MLP. A ``Dict``'s
parts in words (MiniGrid's ``mission``) are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

#: the leaf spaces an observation may be made of
LEAVES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


def is_structured(space: gym.Space) -> bool:
    """Whether observations of ``space`` are flattened for the network (anything but a Box)."""
    return not isinstance(space, gym.spaces.Box)


def leaves(space: gym.Space) -> Iterator[gym.Space]:
    """The parts of ``space`` that are not a ``Dict`` or a ``Tuple``, in order (nested too)."""
    if isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
        for part in space.spaces.values() if isinstance(space, gym.spaces.Dict) else space.spaces:
            yield from leaves(part)
    else:
        yield space


def check_observation_space(space: gym.Space) -> None:
    """Raise ``ValueError`` naming the part a3c cannot take."""
    for leaf in leaves(space):
        if not isinstance(leaf, LEAVES):
            raise ValueError(
                f"unsupported observation space {leaf}: a3c takes Box, Discrete, MultiDiscrete, "
                "MultiBinary, and Dict or Tuple of those"
            )


@dataclass(frozen=True)
class Part:
    """One leaf of a structured observation, in the flat vector: ``[start, start + size)``."""

    start: int
    size: int
    shape: tuple[int, ...]  # the leaf's own shape (a Box's; ``(size,)`` for one-hots)
    image: bool  # a uint8 frame that a CNN reads


def flat_parts(space: gym.Space) -> list[Part]:
    """The leaves of ``space`` in the order :func:`gymnasium.spaces.flatten` lays them out."""
    from a3c.networks import takes_frames

    parts: list[Part] = []

    def walk(node: gym.Space, start: int) -> int:
        if isinstance(node, gym.spaces.Dict):
            for child in node.spaces.values():
                start = walk(child, start)
            return start
        if isinstance(node, gym.spaces.Tuple):
            for child in node.spaces:
                start = walk(child, start)
            return start
        size = int(gym.spaces.flatdim(node))
        if isinstance(node, gym.spaces.Box):
            shape = tuple(node.shape)
            parts.append(Part(start, size, shape, takes_frames(shape, node.dtype)))
        else:
            parts.append(Part(start, size, (size,), False))
        return start + size

    walk(space, 0)
    return parts


class FlatObservations(gym.wrappers.FlattenObservation):
    """Gymnasium's ``FlattenObservation``, marked as a3c's own: the space inside it is the one
    the network is built for (a user's own flattening stays theirs)."""


class ReadableParts(gym.wrappers.FilterObservation):
    """Gymnasium's ``FilterObservation``, marked as a3c's own: a ``Dict`` observation without
    its parts in words (see :func:`readable_parts`)."""


def in_words(space: gym.Space) -> bool:
    """Whether the values of ``space`` are words rather than numbers: a ``Text`` space, or a
    space of another package's own making that is none of a3c's leaves (MiniGrid's
    ``MissionSpace``, whose values are strings and which Gymnasium cannot flatten)."""
    if isinstance(space, (*LEAVES, gym.spaces.Dict, gym.spaces.Tuple)):
        return False
    gymnasiums = type(space).__module__.split(".")[0] == "gymnasium"
    return isinstance(space, gym.spaces.Text) or not gymnasiums


def readable_parts(space: gym.Space) -> list[str] | None:
    """The keys of a ``Dict`` observation's parts that are not in words (:func:`in_words`),
    where some are (MiniGrid's ``mission``); ``None`` where none is, or the space is not a
    ``Dict``. Only whole top-level parts are left out: words deeper inside are refused."""
    if not isinstance(space, gym.spaces.Dict):
        return None
    keep = [key for key, part in space.spaces.items() if not in_words(part)]
    return keep if 0 < len(keep) < len(space.spaces) else None


def flat_observations(env: gym.Env) -> gym.Env:
    """``env`` with flat observations if its space is structured; else ``env`` itself. The
    parts of a ``Dict`` observation in words are left out (:func:`left_out` names them)."""
    keep = readable_parts(env.observation_space)
    if keep is not None:
        env = ReadableParts(env, keep)
    if not is_structured(env.observation_space):
        return env
    check_observation_space(env.observation_space)  # before Gymnasium's flattening fails on it
    return FlatObservations(env)


def observation_space_of(env: gym.Env) -> gym.Space:
    """The space the agent is built for: the structured one under a3c's flattening."""
    if isinstance(env, FlatObservations):
        return env.env.observation_space
    return env.observation_space


def left_out(env: gym.Env) -> dict[str, gym.Space]:
    """The parts of the environment's observations that :func:`flat_observations` left out."""
    inner = env.env if isinstance(env, FlatObservations) else env
    if not isinstance(inner, ReadableParts):
        return {}
    full, kept = inner.env.observation_space, inner.observation_space
    assert isinstance(full, gym.spaces.Dict) and isinstance(kept, gym.spaces.Dict)
    return {key: part for key, part in full.spaces.items() if key not in kept.spaces}


def flatten_batch(space: gym.Space, observation: Any) -> tuple[np.ndarray, bool]:
    """One observation of ``space``, or a batch of them (a list of observations, or for Dict and
    Tuple spaces also one observation whose leaves have a leading batch dimension, as
    Stable-Baselines3 passes them), flattened: ``(rows, single)``."""
    size = _batch_size(space, observation)
    if size is None:
        rows = [observation]
    elif isinstance(observation, list) or (
        isinstance(space, gym.spaces.Dict) and isinstance(observation, tuple)
    ):
        rows = list(observation)
    else:
        rows = [_row(observation, i) for i in range(size)]
    flat = np.stack([np.asarray(gym.spaces.flatten(space, _as_space(space, r))) for r in rows])
    if flat.shape[1] != gym.spaces.flatdim(space):
        raise ValueError(f"an observation of {flat.shape[1]} values does not fit {space}")
    return flat, size is None


def _batch_size(space: gym.Space, observation: Any) -> int | None:
    """``None`` for one observation, else the batch's size: a list is a batch; otherwise the
    shape of the first leaf tells."""
    if isinstance(observation, list) or (
        isinstance(space, gym.spaces.Dict) and isinstance(observation, tuple)
    ):
        return len(observation)
    leaf_space: Any = space
    leaf: Any = observation
    while isinstance(leaf_space, gym.spaces.Dict | gym.spaces.Tuple):
        key: Any = next(iter(leaf_space.spaces)) if isinstance(leaf_space, gym.spaces.Dict) else 0
        leaf_space, leaf = leaf_space.spaces[key], leaf[key]
    shape = np.shape(leaf)
    return None if shape == tuple(leaf_space.shape or ()) else shape[0]


def _row(observation: Any, i: int) -> Any:
    """Row ``i`` of an observation whose leaves are batched."""
    if isinstance(observation, dict):
        return {key: _row(value, i) for key, value in observation.items()}
    if isinstance(observation, tuple):
        return tuple(_row(value, i) for value in observation)
    return observation[i]


def _as_space(space: gym.Space, observation: Any) -> Any:
    """Leaves as the space's dtype (a float array for a MultiDiscrete, an int64 one-hot...)."""
    if isinstance(space, gym.spaces.Dict):
        return {key: _as_space(sub, observation[key]) for key, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(
            _as_space(sub, part) for sub, part in zip(space.spaces, observation, strict=True)
        )
    if isinstance(space, gym.spaces.Discrete):
        return int(np.asarray(observation).reshape(()))
    return np.asarray(observation, dtype=space.dtype)
