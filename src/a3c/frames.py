"""Frame preprocessing for image environments that are not Atari games.

Atari games get theirs from Gymnasium's ``AtariPreprocessing`` (see :class:`a3c.envs.EnvFactory`).
Any other environment whose observations are frames (a ``Box`` of ``uint8`` pixels, height x width
x channels, or height x width; 1, 3 or 4 channels are read as grey, RGB and RGBA) can be given the
same treatment with ``preprocess_frames`` (``--preprocess-frames``):

- each action repeated ``frame_skip`` times, its rewards summed (a plain repeat: the max-pooling of
  Atari's frame skip undoes the ALE's flicker, which other environments do not have);
- frames resized to ``screen_size`` pixels square, in grayscale (``"grayscale"``) or in colour
  (``"color"``);
- the last ``frame_stack`` frames stacked, so that a feed-forward network sees motion: grayscale
  frames (and frames of one channel in either mode) as channels first (``frame_stack`` x size x
  size, as Atari's), colour frames with their channels concatenated, oldest first (size x size x
  3 ``frame_stack``; fewer channels than pixels a side, so that the CNN reads them as channels).

A time limit counts the environment's own steps, as it did without the preprocessing; episode
lengths in the logs count the agent's steps (``frame_skip`` of the environment's each).
"""

from __future__ import annotations

from collections import deque
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

#: the values of ``preprocess_frames``
FRAME_MODES = ("none", "grayscale", "color")


class RepeatAction(gym.Wrapper):
    """Each action is taken ``repeats`` times, or until the episode ends; the rewards are summed,
    and the last observation and info are returned."""

    def __init__(self, env: gym.Env, repeats: int) -> None:
        super().__init__(env)
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, not {repeats}")
        self.repeats = repeats

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        total: Any = 0.0  # summed as it comes (an array of one element too: a3c.envs reads it)
        for _ in range(self.repeats):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += reward
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class StackedChannels(gym.Wrapper):
    """The last ``n`` frames (height x width x channels) with their channels concatenated, oldest
    first: height x width x ``n`` channels. At a reset the first frame fills the stack (as
    Gymnasium's ``FrameStackObservation`` pads)."""

    def __init__(self, env: gym.Env, n: int) -> None:
        super().__init__(env)
        space = env.observation_space
        assert isinstance(space, gym.spaces.Box) and len(space.shape) == 3, space
        self.frames: deque[np.ndarray] = deque(maxlen=n)
        self.observation_space = gym.spaces.Box(
            np.concatenate([space.low] * n, axis=2),
            np.concatenate([space.high] * n, axis=2),
            dtype=space.dtype,
        )

    def _stacked(self) -> np.ndarray:
        return np.concatenate(self.frames, axis=2)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        # copies: an environment may draw each frame into the same array
        self.frames.extend([np.array(obs)] * self.frames.maxlen)  # type: ignore[operator]
        return self._stacked(), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.frames.append(np.array(obs))
        return self._stacked(), reward, terminated, truncated, info


def _drop_alpha(frame: np.ndarray) -> np.ndarray:
    return frame[..., :3]


def frame_shape(space: gym.Space) -> tuple[int, int, int] | None:
    """(height, width, channels) of a space of frames (channels 1 where there are none), or
    ``None`` where its observations are not frames that can be preprocessed."""
    if not isinstance(space, gym.spaces.Box) or space.dtype != np.uint8:
        return None
    if len(space.shape) == 2:
        return (space.shape[0], space.shape[1], 1)
    if len(space.shape) == 3 and space.shape[2] in (1, 3, 4):
        return (space.shape[0], space.shape[1], space.shape[2])
    return None


def single_frames(space: gym.Space) -> bool:
    """Whether observations of ``space`` are single frames as an environment renders them: uint8
    height x width x 1 or 3 (grey or RGB), one frame a step, before any preprocessing. Atari
    games as a3c makes them are stacks, channels first (or 84 x 84 with a stack of 1), and so
    are 2-D grey frames of other environments: those are read as they come. Three grey frames
    stacked channels last cannot be told from RGB, and count as single frames."""
    shape = frame_shape(space)
    return shape is not None and len(space.shape or ()) == 3 and shape[2] in (1, 3)


def preprocess_frames(
    env: gym.Env, mode: str, *, frame_skip: int = 4, screen_size: int = 84, frame_stack: int = 4
) -> gym.Env:
    """``env`` with its frames preprocessed (see the module's docstring); ``mode`` ``"none"``
    leaves it as it is. Apply it to an environment of your own to give :meth:`a3c.A3C.predict`
    the observations a run with ``preprocess_frames`` learned from."""
    if mode not in FRAME_MODES:
        raise ValueError(f"preprocess_frames must be one of {', '.join(FRAME_MODES)}, not {mode!r}")
    if mode == "none":
        return env
    shape = frame_shape(env.observation_space)
    if shape is None:
        raise ValueError(
            f"preprocess_frames={mode!r} takes frames (a Box of uint8 pixels, height x width, "
            f"or height x width x 1, 3 or 4 channels: grey, RGB, RGBA), not {env.observation_space}"
        )
    height, width, channels = shape
    if mode == "color" and channels > 1 and 3 * frame_stack >= screen_size:
        raise ValueError(
            f"preprocess_frames='color' stacks {frame_stack} frames into {3 * frame_stack} "
            f"channels, not fewer than the {screen_size} pixels a side, so the CNN cannot tell "
            "them from a side: fewer frames, a larger screen_size, or 'grayscale'"
        )
    if frame_skip > 1:
        env = RepeatAction(env, frame_skip)
    if channels == 4:  # RGBA: the alpha channel carries no picture
        env = gym.wrappers.TransformObservation(
            env, _drop_alpha, gym.spaces.Box(0, 255, (height, width, 3), np.uint8)
        )
        channels = 3
    if mode == "grayscale" and channels == 3:  # before resizing: a third of the pixels
        env = gym.wrappers.GrayscaleObservation(env, keep_dim=False)
        channels = 1
    elif channels == 1 and len(env.observation_space.shape or ()) == 3:
        env = gym.wrappers.ReshapeObservation(env, (height, width))
    if (height, width) != (screen_size, screen_size):
        try:
            import cv2  # noqa: F401  (Gymnasium resizes with it)
        except ImportError as exc:
            raise ValueError(
                'resizing frames needs OpenCV: pip install "a3c[images]", or read them as '
                f"they come (--preprocess-frames none, preprocess_frames='none') ({exc})"
            ) from exc
        env = gym.wrappers.ResizeObservation(env, (screen_size, screen_size))
    if channels == 1:  # stacked channels first, as Atari's frames
        if frame_stack == 1:
            return env
        # Gymnasium's stack keeps the arrays it is given: copies, as in StackedChannels
        env = gym.wrappers.TransformObservation(env, np.array, env.observation_space)
        return gym.wrappers.FrameStackObservation(env, frame_stack)
    return StackedChannels(env, frame_stack) if frame_stack > 1 else env
