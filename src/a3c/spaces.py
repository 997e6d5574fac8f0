"""Observation spaces beyond ``Box``: ``Discrete``, ``MultiDiscrete``, ``MultiBinary``, and
``Dict``/``Tuple`` of those and of ``Box`` (nested too), as Stable-Baselines3 takes them.

They travel as one flat vector, Gymnasium's own flattening (:func:`gymnasium.spaces.flatten`:
discrete parts one-hot, the parts in the space's order), so that rollouts, normalisers and
backends keep handling plain arrays. The network knows the layout (:func:`flat_parts`) and gives
each part its encoder: an image part its own CNN, every other part one shared MLP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

#: the leaf spaces an observation may be made of
LEAVES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


def is_structured(space: gym.Space) -> bool:
    """Whether observations of ``space`` are flattened for the network (anything but a Box)."""
    return not isinstance(space, gym.spaces.Box)


def check_observation_space(space: gym.Space) -> None:
    """Raise ``ValueError`` naming the part a3c cannot take."""
    if isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
        for part in space.spaces.values() if isinstance(space, gym.spaces.Dict) else space.spaces:
            check_observation_space(part)
        return
    if not isinstance(space, LEAVES):
        raise ValueError(
            f"unsupported observation space {space}: a3c takes Box, Discrete, MultiDiscrete, "
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


def flat_observations(env: gym.Env) -> gym.Env:
    """``env`` with flat observations if its space is structured; else ``env`` itself."""
    return FlatObservations(env) if is_structured(env.observation_space) else env


def observation_space_of(env: gym.Env) -> gym.Space:
    """The space the agent is built for: the structured one under a3c's flattening."""
    if isinstance(env, FlatObservations):
        return env.env.observation_space
    return env.observation_space


def flatten_batch(space: gym.Space, observation: Any) -> tuple[np.ndarray, bool]:
    """One observation of ``space`` or a sequence of them, flattened: ``(rows, single)``."""
    if isinstance(observation, dict) or space.contains(observation):
        return np.asarray(gym.spaces.flatten(space, observation))[None], True
    rows = [np.asarray(gym.spaces.flatten(space, obs)) for obs in observation]
    return np.stack(rows), False
