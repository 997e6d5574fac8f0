"""Environment plumbing: picklable factories, space checks, and groups of envs stepped together.

Nothing here knows about the algorithm. Episode statistics are of the raw reward, before the
learner's ``reward_scale``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class EnvFactory:
    """Builds one environment; picklable, so ``spawn``-started workers can rebuild it.

    ``env_module`` is imported first so that a user's module can register its environments;
    Gymnasium's own ``"module:Env-v0"`` form works as well.
    """

    env_id: str
    env_module: str | None = None
    max_episode_steps: int | None = None

    def __call__(self, **kwargs: Any) -> gym.Env:
        if self.env_module:
            importlib.import_module(self.env_module)
        if self.max_episode_steps is not None:
            kwargs["max_episode_steps"] = self.max_episode_steps
        try:
            return gym.make(self.env_id, **kwargs)
        except (
            gym.error.NameNotFound,
            gym.error.NamespaceNotFound,
            gym.error.VersionNotFound,
        ) as exc:
            close = difflib.get_close_matches(self.env_id, list(gym.registry), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown environment {self.env_id!r}{hint}") from exc


def check_spaces(observation_space: gym.Space, action_space: gym.Space) -> None:
    """Raise ``ValueError`` naming the space if a3c cannot learn on it."""
    if not isinstance(observation_space, gym.spaces.Box):
        raise ValueError(
            f"unsupported observation space {observation_space}: a3c supports Box observations"
        )
    if isinstance(action_space, gym.spaces.Discrete):
        return
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        bounds = np.concatenate([action_space.low, action_space.high])
        if np.all(np.isfinite(bounds)):
            return
    raise ValueError(
        f"unsupported action space {action_space}: a3c supports Discrete and 1-D Box actions "
        "with finite bounds"
    )


def space_to_dict(space: gym.Space) -> dict[str, Any]:
    """A plain-data description of a Box or Discrete space (stored in checkpoints)."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.Box):
        return {
            "type": "Box",
            "low": space.low.astype(np.float64).reshape(-1).tolist(),
            "high": space.high.astype(np.float64).reshape(-1).tolist(),
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    raise ValueError(f"cannot describe space {space}")


def space_from_dict(data: dict[str, Any]) -> gym.Space:
    if data["type"] == "Discrete":
        return gym.spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)))
    if data["type"] == "Box":
        shape = tuple(data["shape"])
        dtype = np.dtype(data["dtype"])
        low = np.asarray(data["low"], dtype=dtype).reshape(shape)
        high = np.asarray(data["high"], dtype=dtype).reshape(shape)
        return gym.spaces.Box(low, high, shape=shape, dtype=dtype)
    raise ValueError(f"unknown space type {data.get('type')!r}")


@dataclass
class GroupStep:
    """What one step of an :class:`EnvGroup` returns."""

    obs: np.ndarray  # next observations, already reset where an episode ended
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: dict[int, np.ndarray]  # env index -> last observation of an episode that ended
    finished: list[tuple[float, int]]  # (return, length) of each episode that ended


class EnvGroup:
    """``n`` environments stepped in lock-step, each reset as soon as its episode ends.

    Unlike Gymnasium 1.x vector envs (which reset on the *next* step), the observation returned
    for an env whose episode ended is already the first of the next episode, and the old episode's
    last observation is in ``final_obs`` for bootstrapping on truncation.
    """

    def __init__(self, factory: EnvFactory, n: int, seed: int) -> None:
        self.envs = [factory() for _ in range(n)]
        self.seeds = [seed + i for i in range(n)]
        self.episode_returns = np.zeros(n, dtype=np.float64)
        self.episode_lengths = np.zeros(n, dtype=np.int64)
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space

    def reset(self) -> np.ndarray:
        first = [env.reset(seed=s)[0] for env, s in zip(self.envs, self.seeds, strict=True)]
        self.episode_returns[:] = 0
        self.episode_lengths[:] = 0
        return np.stack(first).astype(np.float32, copy=False)

    def step(self, actions: Sequence[Any]) -> GroupStep:
        n = len(self.envs)
        obs = []
        rewards = np.empty(n, dtype=np.float32)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        final_obs: dict[int, np.ndarray] = {}
        finished: list[tuple[float, int]] = []
        for i, env in enumerate(self.envs):
            o, r, term, trunc, _ = env.step(actions[i])
            rewards[i] = r
            self.episode_returns[i] += float(r)
            self.episode_lengths[i] += 1
            if term or trunc:
                terminated[i], truncated[i] = term, trunc and not term
                final_obs[i] = np.asarray(o, dtype=np.float32)
                finished.append((float(self.episode_returns[i]), int(self.episode_lengths[i])))
                self.episode_returns[i] = 0
                self.episode_lengths[i] = 0
                o, _ = env.reset()
            obs.append(o)
        return GroupStep(
            np.stack(obs).astype(np.float32, copy=False),
            rewards,
            terminated,
            truncated,
            final_obs,
            finished,
        )

    def close(self) -> None:
        for env in self.envs:
            env.close()
