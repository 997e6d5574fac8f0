"""Observation spaces beyond ``Box``: ``Discrete``, ``MultiDiscrete``, ``MultiBinary``, and
``Dict``/``Tuple`` of those and of ``Box`` (nested too), as Stable-Baselines3 takes them.

They travel as one flat vector, Gymnasium's own flattening (:func:`gymnasium.spaces.flatten`:
discrete parts one-hot, the parts in the space's order), so that rollouts, normalisers and
backends keep handling plain arrays. The network knows the layout (:func:`flat_parts`) and gives
each part its encoder: an image part its own CNN, every other part one shared MLP.

Observations in words (MiniGrid's ``mission``, a ``Text`` space), whole or as parts of a ``Dict``
or ``Tuple``, are read as numbers: a hashed bag of their words and adjacent word pairs
(:class:`HashedWords`). ``words="left-out"`` leaves a ``Dict``'s parts in words out instead.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import gymnasium as gym
import numpy as np

#: the leaf spaces an observation may be made of
LEAVES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)

#: what becomes of observations in words: read as a hashed bag of words, or (a ``Dict``'s parts)
#: left out
WORD_MODES = ("hashed", "left-out")
#: How words read as numbers enter a structured observation's network: as inputs beside its
#: other parts, or scaling and shifting the first hidden layer's units (``a3c.networks.FiLM``).
WORD_CONDITIONINGS = ("input", "film")

#: the numbers a text is read as (:class:`HashedWords`)
WORD_BUCKETS = 256


class HashedWords(gym.spaces.Box):
    """Observations in words as the network reads them: ``size`` numbers, 0 or 1, a bag of the
    text's words and of its adjacent word pairs (lower case; runs of ASCII letters and digits,
    anything else separates them), each hashed into two of them.

    The pairs tell "put the red ball next to the blue box" from the other way round; two hashes
    for each make a collision that hides one word behind another unlikely (about ``1/size**2``
    for a pair of words, where one hash would give ``1/size``). A stable hash (BLAKE2), not
    Python's salted one: every process, and a later load, reads a text the same.
    """

    def __init__(self, size: int = WORD_BUCKETS):
        super().__init__(0.0, 1.0, shape=(size,), dtype=np.float32)

    def encode(self, text: Any) -> np.ndarray:
        """The numbers of one text."""
        if isinstance(text, np.ndarray) and text.ndim == 0:
            text = text.item()
        if not isinstance(text, str):
            raise ValueError(f"expected words (a string), got {type(text).__name__}")
        vector = np.zeros(self.shape, np.float32)
        vector[list(_buckets(text, self.shape[0]))] = 1.0
        return vector

    def __repr__(self) -> str:
        return f"HashedWords({self.shape[0]})"

    def __eq__(self, other: object) -> bool:  # not equal to a plain Box: it reads text
        return isinstance(other, HashedWords) and self.shape == other.shape


@functools.lru_cache(maxsize=4096)  # missions repeat from step to step
def _buckets(text: str, size: int) -> tuple[int, ...]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    features = words + [f"{first} {second}" for first, second in pairwise(words)]
    buckets = set()
    for feature in features:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        buckets.add(int.from_bytes(digest[:4], "little") % size)
        buckets.add(int.from_bytes(digest[4:], "little") % size)
    return tuple(sorted(buckets))


def is_structured(space: gym.Space) -> bool:
    """Whether observations of ``space`` are flattened for the network (anything but a Box of
    numbers)."""
    return not isinstance(space, gym.spaces.Box) or isinstance(space, HashedWords)


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


SUPPORTED_ACTIONS = (
    "a3c supports Discrete, MultiDiscrete, MultiBinary and Box actions, and Tuple or Dict spaces "
    "of them"
)


def check_action_space(space: gym.Space) -> None:
    """Raise ``ValueError`` naming ``space`` if a3c cannot act in it. The leaves are those an
    observation may have, of any shape (learned flat, handed back in their own); a ``Box``
    bounded or not (the Gaussian's samples are clipped to whatever bounds it has); a ``Tuple``
    or ``Dict`` of them, nested too, is a hybrid action (:class:`a3c.distributions.Product`)."""
    parts = list(leaves(space))
    if not parts or not all(isinstance(part, LEAVES) for part in parts):
        raise ValueError(f"unsupported action space {space}: {SUPPORTED_ACTIONS}")


def same_layout(learned: gym.Space, given: gym.Space, values: bool = False) -> bool:
    """Whether a network made for ``learned`` reads observations (or gives actions) of
    ``given``: the same parts in the same order, each of the same kind and size; a ``Box`` of
    frames may not become one of numbers (frames are scaled inside the network). With
    ``values`` (actions: the policy hands the environment the values it learned) also the same
    ``start`` and ``Box`` bounds; observations' may differ (another version of an environment
    often moves them)."""
    a, b = list(leaves(learned)), list(leaves(given))
    return len(a) == len(b) and all(_same_leaf(x, y, values) for x, y in zip(a, b, strict=True))


def check_layouts(
    name: str, learned: tuple[gym.Space, gym.Space], given: tuple[gym.Space, gym.Space]
) -> None:
    """Raise ``ValueError`` in one line where the environment ``name``, of the observation and
    action spaces ``given``, does not observe or act as the one a policy ``learned`` on
    (:func:`same_layout`): the network could not read its observations, or would give actions
    it has not."""
    for what, a, b, values in zip(
        ("observations", "actions"), learned, given, (False, True), strict=True
    ):
        if not same_layout(a, b, values):
            raise ValueError(
                f"{name}'s {what} are {layout(b, values)}, the policy's were "
                f"{layout(a, values)}: a policy plays only environments that observe and act "
                "as the one it learned on"
            )


def _same_leaf(a: gym.Space, b: gym.Space, values: bool) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, gym.spaces.Box):
        assert isinstance(b, gym.spaces.Box)
        same = a.shape == b.shape and (a.dtype == np.uint8) == (b.dtype == np.uint8)
        bounds = np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high)
        return same and (bounds or not values)
    if isinstance(a, gym.spaces.Discrete | gym.spaces.MultiDiscrete):
        size = "n" if isinstance(a, gym.spaces.Discrete) else "nvec"
        same = np.array_equal(getattr(a, size), getattr(b, size))
        return same and (np.array_equal(a.start, b.start) or not values)  # type: ignore[attr-defined]
    if isinstance(a, gym.spaces.MultiBinary):
        return a.shape == b.shape
    return a == b


def layout(space: gym.Space, values: bool = False) -> str:
    """``space`` in the terms of :func:`same_layout`, for a message: ``Box(6,)``,
    ``Dict(image: Box(7, 7, 3) uint8, mission: Words(256))``; with ``values``, starts other than
    0 and a ``Box``'s bounds too (``Discrete(3, start=-1)``, ``Box(1,) in [-2.0, 2.0]``)."""
    if isinstance(space, gym.spaces.Dict):
        parts = ", ".join(f"{k}: {layout(v, values)}" for k, v in space.spaces.items())
        return f"Dict({parts})"
    if isinstance(space, gym.spaces.Tuple):
        return "Tuple(" + ", ".join(layout(part, values) for part in space.spaces) + ")"
    if isinstance(space, HashedWords):
        return f"Words({space.shape[0]})"
    if isinstance(space, gym.spaces.Box):
        shape = ", ".join(map(str, space.shape)) + ("," if len(space.shape) == 1 else "")
        shown = f"Box({shape})" + (" uint8" if space.dtype == np.uint8 else "")
        if values:
            low, high = np.unique(space.low), np.unique(space.high)
            if len(low) == 1 and len(high) == 1:
                shown += f" in [{low[0]}, {high[0]}]"
            else:
                shown += f" in [{space.low.tolist()}, {space.high.tolist()}]"
        return shown
    if isinstance(space, gym.spaces.Discrete):
        start = f", start={int(space.start)}" if values and space.start != 0 else ""
        return f"Discrete({int(space.n)}{start})"
    if isinstance(space, gym.spaces.MultiDiscrete):
        start = f", start={space.start.tolist()}" if values and np.any(space.start) else ""
        return f"MultiDiscrete({space.nvec.tolist()}{start})"
    if isinstance(space, gym.spaces.MultiBinary):
        return f"MultiBinary({space.n})"
    return type(space).__name__


@dataclass(frozen=True)
class Part:
    """One leaf of a structured observation, in the flat vector: ``[start, start + size)``."""

    start: int
    size: int
    shape: tuple[int, ...]  # the leaf's own shape (a Box's; ``(size,)`` for one-hots)
    image: bool  # a uint8 frame that a CNN reads
    words: bool = False  # words read as numbers (a HashedWords leaf)
    mask: bool = False  # the action mask (a3c.masks): read by the policy, not an input


def flat_parts(space: gym.Space, mask_key: str | None = None) -> list[Part]:
    """The leaves of ``space`` in the order :func:`gymnasium.spaces.flatten` lays them out; the
    top-level ``Dict`` part named ``mask_key``, if given, is marked as the action mask."""
    from a3c.networks import takes_frames

    parts: list[Part] = []

    def walk(node: gym.Space, start: int) -> int:
        if isinstance(node, gym.spaces.Dict):
            for key, child in node.spaces.items():
                if node is space and key == mask_key:
                    if not isinstance(child, gym.spaces.MultiBinary | gym.spaces.Box):
                        raise ValueError(
                            f"the action mask {key!r} is {child}: a mask is one 0/1 value per "
                            "action (MultiBinary, or a Box of 0s and 1s)"
                        )
                    size = int(gym.spaces.flatdim(child))
                    parts.append(Part(start, size, (size,), False, mask=True))
                    start += size
                else:
                    start = walk(child, start)
            return start
        if isinstance(node, gym.spaces.Tuple):
            for child in node.spaces:
                start = walk(child, start)
            return start
        size = int(gym.spaces.flatdim(node))
        if isinstance(node, gym.spaces.Box):
            shape = tuple(node.shape)
            image = takes_frames(shape, node.dtype)
            parts.append(Part(start, size, shape, image, isinstance(node, HashedWords)))
        else:
            parts.append(Part(start, size, (size,), False))
        return start + size

    walk(space, 0)
    return parts


class FlatObservations(gym.wrappers.FlattenObservation):
    """Gymnasium's ``FlattenObservation``, marked as a3c's own: the space inside it is the one
    the network is built for (a user's own flattening stays theirs)."""

    def __init__(self, env: gym.Env):
        from a3c.masks import MaskInObservation

        super().__init__(env)
        # An action mask joined to the observation (a3c.masks): the observation flattened, the
        # mask after it, as Gymnasium flattens their Dict, without its walk over the Dict (it
        # took 3.5 us of the 5.5 us that the mask added to a Taxi step).
        self.unmasked_space = env.unmasked_space if isinstance(env, MaskInObservation) else None

    def observation(self, observation: Any) -> Any:
        if self.unmasked_space is None:
            return super().observation(observation)
        flat = gym.spaces.flatten(self.unmasked_space, observation["observation"])
        return np.concatenate(
            [flat, observation["action_mask"]], dtype=self.observation_space.dtype
        )


class ReadableParts(gym.wrappers.FilterObservation):
    """Gymnasium's ``FilterObservation``, marked as a3c's own: a ``Dict`` observation without
    its parts in words (see :func:`readable_parts`)."""


class WordsAsNumbers(gym.ObservationWrapper):
    """a3c's own: observations whose parts in words (or which, whole, are words) come as
    :class:`HashedWords` numbers."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.observation_space = words_as_numbers(env.observation_space)

    def observation(self, observation: Any) -> Any:
        return encode_words(self.observation_space, observation)


def words_as_numbers(space: gym.Space) -> gym.Space:
    """``space`` with each of its parts in words (:func:`in_words`) a :class:`HashedWords`."""
    if in_words(space):
        return HashedWords()
    if isinstance(space, gym.spaces.Dict):
        parts = [(key, words_as_numbers(part)) for key, part in space.spaces.items()]
        return gym.spaces.Dict(OrderedDict(parts))  # in the same order, not sorted
    if isinstance(space, gym.spaces.Tuple):
        return gym.spaces.Tuple([words_as_numbers(part) for part in space.spaces])
    return space


def encode_words(space: gym.Space, observation: Any) -> Any:
    """An observation of :func:`words_as_numbers`'s ``space`` from one whose words are text."""
    return _map_leaves(space, observation, _words_encoded)


def _words_encoded(leaf: gym.Space, value: Any) -> Any:
    return leaf.encode(value) if isinstance(leaf, HashedWords) else value


def _map_leaves(space: gym.Space, observation: Any, leaf: Callable[[gym.Space, Any], Any]) -> Any:
    """``observation`` with ``leaf(space, value)`` for each of its leaves, as laid out by
    ``space`` (its Dicts and Tuples)."""
    if isinstance(space, gym.spaces.Dict):
        return {key: _map_leaves(sub, observation[key], leaf) for key, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(
            _map_leaves(sub, value, leaf)
            for sub, value in zip(space.spaces, observation, strict=True)
        )
    return leaf(space, observation)


def has_words(space: gym.Space) -> bool:
    """Whether ``space``, or a part of it at any depth, is in words."""
    return any(in_words(leaf) for leaf in leaves(space))


def word_parts(space: gym.Space, path: str = "") -> list[str]:
    """Where ``space`` reads words (its :class:`HashedWords`): ``'mission'``, ``'cue'[1]``, or
    ``''`` for the whole observation."""
    if isinstance(space, HashedWords):
        return [path]
    if isinstance(space, gym.spaces.Dict):
        items = [
            (f"{path}[{key!r}]" if path else repr(key), part) for key, part in space.spaces.items()
        ]
    elif isinstance(space, gym.spaces.Tuple):
        items = [(f"{path}[{i}]", part) for i, part in enumerate(space.spaces)]
    else:
        return []
    return [found for where, part in items for found in word_parts(part, where)]


def in_words(space: gym.Space) -> bool:
    """Whether the values of ``space`` are words rather than numbers: a ``Text`` space, or a
    space of another package's own making whose values are strings (MiniGrid's
    ``MissionSpace``, which Gymnasium cannot flatten)."""
    if isinstance(space, (*LEAVES, gym.spaces.Dict, gym.spaces.Tuple)):
        return False
    if isinstance(space, gym.spaces.Text):
        return True
    if type(space).__module__.split(".")[0] == "gymnasium":  # Sequence, Graph, OneOf...
        return False
    dtype = getattr(space, "dtype", None)
    if dtype is not None and np.dtype(dtype).kind == "U":
        return True
    try:  # another package's space of numbers is not words: it is refused, not read as text
        return isinstance(space.sample(), str)
    except Exception:
        return False


def readable_parts(space: gym.Space) -> list[str] | None:
    """The keys of a ``Dict`` observation's parts that are not in words (:func:`in_words`),
    where some are (MiniGrid's ``mission``); ``None`` where none is, or the space is not a
    ``Dict``. Only whole top-level parts are left out: words deeper inside are refused."""
    if not isinstance(space, gym.spaces.Dict):
        return None
    keep = [key for key, part in space.spaces.items() if not in_words(part)]
    return keep if 0 < len(keep) < len(space.spaces) else None


def flat_observations(env: gym.Env, words: str = "hashed", action_mask: str = "none") -> gym.Env:
    """``env`` with flat observations if its space is structured; else ``env`` itself. Words
    (:data:`WORD_MODES`): ``"hashed"`` reads them as :class:`HashedWords`; ``"left-out"`` leaves
    the parts of a ``Dict`` observation in words out (:func:`left_out` names them). An action
    mask from ``info`` or a method (``action_mask``, see :mod:`a3c.masks`) joins the
    observation, after its words are read."""
    from a3c.masks import MOVED_INTO_OBSERVATION, MaskInObservation

    if words not in WORD_MODES:
        raise ValueError(f"words={words!r}: one of {', '.join(map(repr, WORD_MODES))}")
    keep = readable_parts(env.observation_space) if words == "left-out" else None
    if keep is not None:
        env = ReadableParts(env, keep)
    elif words == "hashed" and has_words(env.observation_space):
        env = WordsAsNumbers(env)
    if action_mask in MOVED_INTO_OBSERVATION:
        env = MaskInObservation(env, action_mask)
    if not is_structured(env.observation_space):
        return env
    check_observation_space(env.observation_space)  # before Gymnasium's flattening fails on it
    return FlatObservations(env)


def own_observations(env: gym.Env) -> gym.Env:
    """``env`` without the wrappers of :func:`flat_observations`: its observations as the
    environment gives them (the words as text, no action mask joined), which
    :meth:`a3c.A3C.predict` takes."""
    from a3c.masks import MaskInObservation

    ours = (FlatObservations, MaskInObservation, WordsAsNumbers, ReadableParts)
    while isinstance(env, ours):
        env = env.env
    return env


def observation_space_of(env: gym.Env) -> gym.Space:
    """The space the agent is built for: the structured one under a3c's flattening (its words
    as :class:`HashedWords`)."""
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
    elif (
        isinstance(observation, list)
        or (isinstance(space, gym.spaces.Dict) and isinstance(observation, tuple))
        or isinstance(space, HashedWords)  # texts: a tuple or an array of them
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
    if isinstance(leaf_space, HashedWords):  # one text, or a sequence of them
        return None if isinstance(leaf, str) or np.ndim(leaf) == 0 else len(leaf)
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
    """Leaves as the space's dtype (a float array for a MultiDiscrete, an int64 one-hot...);
    texts as their numbers."""
    return _map_leaves(space, observation, _leaf_as_space)


def _leaf_as_space(leaf: gym.Space, value: Any) -> Any:
    if isinstance(leaf, HashedWords):
        return leaf.encode(value)
    if isinstance(leaf, gym.spaces.Discrete):
        return int(np.asarray(value).reshape(()))
    return np.asarray(value, dtype=leaf.dtype)
