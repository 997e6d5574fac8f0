"""Atari games stepped by ale-py's C++ ``AtariVectorEnv``, as an :class:`~a3c.envs.EnvGroup`.

The same games as the Gymnasium wrappers of :class:`~a3c.envs.EnvFactory` give, frame for frame
(the emulator, frame skip with max-pooling, grayscale frames resized: pixel-identical), at about
1.26x their frames per second on one thread (8 games against one). Every setting is pinned from the
factory and the id, not taken from ``AtariVectorEnv``'s own defaults (which clip rewards, press
FIRE at reset and have no sticky actions): sticky actions from the id (v5: 0.25) or
``repeat_action_probability``, the id's frame limit (a truncation), the no-op starts.

What the C++ side does not do the way a3c does is done here, in numpy: frames are stacked here
(the stack starts as the first frame repeated, as Gymnasium's ``FrameStackObservation``), rewards
are clipped here (the scores reported stay unclipped, of whole games), ``max_episode_steps``
counts agent steps, and a lost life is terminal for learning with the game going on (as
:class:`~a3c.envs.LifeLossTerminal`, the stack starting afresh). Games that need FIRE after a
lost life (Breakout) stay on the Gymnasium wrappers: ``AtariVectorEnv`` presses FIRE at a reset
only, and one game cannot take an extra step apart from the others.

Where the two paths differ, it is in random draws and one rare step; without sticky actions and
no-op starts they are equal step for step (``tests/test_ale_vector.py``):

- the no-op starts are drawn in C++, 0 to ``noop_max`` no-ops (Gymnasium: 1 to ``noop_max``);
- sticky actions draw from the C++ side's own generator, seeded with the seed itself (Gymnasium
  derives another), so the same seed plays other games;
- ALE's frame limit (108,000) counts from the end of the no-op start (Gymnasium: from the reset,
  at most ``noop_max`` frames sooner);
- with ``terminal_on_life_loss``, a life lost on the very step at which ALE's frame limit cuts
  the game is a truncation here (ALE then reports the next game's lives), a termination there.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from a3c.envs import EnvFactory, GroupStep, stands_still_without_fire

# The keyword arguments of an ale-py id's registration that this path reproduces.
PINNED_SPEC_KWARGS = {
    "game",
    "obs_type",
    "repeat_action_probability",
    "full_action_space",
    "frameskip",
    "max_num_frames_per_episode",
}


def ale_vector_unavailable(factory: EnvFactory) -> str | None:
    """Why ``factory``'s environment cannot be stepped by ``AtariVectorEnv`` with today's
    semantics, or ``None`` when it can."""
    if not factory.is_atari:
        return f"{factory.env_id} is not an ale-py game"
    if importlib.util.find_spec("ale_py.vector_env") is None:
        return "ale-py has no AtariVectorEnv before 0.11"
    if factory.env_kwargs:
        return "env_kwargs go to gym.make, which the vector path does not call"
    spec = gym.spec(factory.env_id)
    if spec.kwargs.get("obs_type", "rgb") != "rgb":  # ale-py < 0.12's "-ram" ids
        return f"{factory.env_id} observes {spec.kwargs['obs_type']}, not the screen"
    other = sorted(set(spec.kwargs) - PINNED_SPEC_KWARGS)
    if other:
        return f"{factory.env_id} sets {', '.join(other)}, which the vector path does not pin"
    if spec.kwargs.get("max_num_frames_per_episode") is None:
        return f"{factory.env_id} has no frame limit to pin"
    fire = factory.fire_reset
    if fire or (fire is None and stands_still_without_fire(factory.env_id)):
        return f"{factory.env_id} needs FIRE after a lost life, which AtariVectorEnv cannot press"
    return None


def use_ale_vector(factory: EnvFactory) -> bool:
    """Whether ``factory``'s games are stepped by ``AtariVectorEnv``: as ``factory.atari_vector``
    says (``None``: where it can be), and ``ValueError`` saying why not where it is required
    and cannot be."""
    if factory.atari_vector is False:
        return False
    why = ale_vector_unavailable(factory)
    if why is not None and factory.atari_vector:
        raise ValueError(f"atari_vector=True, but {why}")
    return why is None


class AleVectorGroup:
    """``n`` games of one ale-py id in one ``AtariVectorEnv`` (one emulator thread), with the
    interface and the semantics of :class:`~a3c.envs.EnvGroup` over the Gymnasium wrappers."""

    def __init__(self, factory: EnvFactory, n: int, seed: int) -> None:
        why = ale_vector_unavailable(factory)
        if why is not None:
            raise ValueError(f"cannot step {factory.env_id} with AtariVectorEnv: {why}")
        from ale_py.vector_env import AtariVectorEnv

        spec = gym.spec(factory.env_id).kwargs
        sticky = factory.repeat_action_probability
        self.env = AtariVectorEnv(
            spec["game"],
            n,
            num_threads=1,  # one core per worker: the workers are the parallelism
            max_num_frames_per_episode=int(spec["max_num_frames_per_episode"]),
            repeat_action_probability=float(
                sticky if sticky is not None else spec.get("repeat_action_probability", 0.25)
            ),
            full_action_space=bool(spec.get("full_action_space", False)),
            autoreset_mode="SameStep",  # a game over returns the next game's first frame
            frameskip=factory.frame_skip,
            maxpool=True,
            grayscale=True,
            img_height=factory.screen_size,
            img_width=factory.screen_size,
            # C++ draws 0 to noop_max - 1 no-ops; Gymnasium's wrapper 1 to noop_max
            noop_max=factory.noop_max + 1 if factory.noop_max > 0 else 0,
            stack_num=1,  # stacked here, with FrameStackObservation's start and life losses
            episodic_life=False,  # restarts the game at each lost life; lives are watched here
            life_loss_info=False,
            reward_clipping=False,  # clipped here: the scores stay unclipped
            use_fire_reset=False,  # FIRE games never come here (ale_vector_unavailable)
        )
        self.n = n
        self.seed = seed
        self.stack = max(1, factory.frame_stack)
        self.clip_rewards = factory.clip_rewards
        self.terminal_on_life_loss = factory.terminal_on_life_loss
        self.max_episode_steps = factory.max_episode_steps
        frame_shape = (factory.screen_size, factory.screen_size)
        shape = (self.stack, *frame_shape) if factory.frame_stack > 1 else frame_shape
        self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        self.action_space = self.env.single_action_space
        self.obs_dtype = np.dtype(np.uint8)
        self.frames = np.zeros((n, self.stack, *frame_shape), np.uint8)
        self.lives = np.zeros(n, np.int64)
        self.episode_returns = np.zeros(n, np.float64)
        self.episode_lengths = np.zeros(n, np.int64)

    def _observations(self, out: np.ndarray | None = None) -> np.ndarray:
        stacks = self.frames if self.stack > 1 else self.frames[:, 0]
        if out is None:
            return stacks.copy()
        out[...] = stacks
        return out

    def _observation(self, i: int) -> np.ndarray:
        return (self.frames[i] if self.stack > 1 else self.frames[i, 0]).copy()

    def reset(self) -> np.ndarray:
        seeds = (self.seed + np.arange(self.n)) % 2**31  # C ints
        obs, info = self.env.reset(seed=seeds)
        self.frames[:] = obs[:, :1]  # the first frame repeated
        self.lives[:] = info["lives"]
        self.episode_returns[:] = 0
        self.episode_lengths[:] = 0
        return self._observations()

    def step(self, actions: Sequence[Any], out: np.ndarray | None = None) -> GroupStep:
        """Step every game; the next observations are written into ``out`` when given."""
        obs, raw, game_over, cut, info = self.env.step(np.asarray(actions, np.int64))
        # Each game's newest frame: the last of an episode that ended (the C++ side returns the
        # next game's first frame, and that episode's last in final_obs).
        newest = obs[:, 0].copy()
        first = newest.copy()  # the first frame of a new game, where one began
        by_ale = game_over | cut
        if by_ale.any():
            newest[by_ale] = info["final_obs"][by_ale][:, 0]
        step_lives = np.asarray(info["lives"], np.int64)  # a new game's where ALE reset one
        # a life lost on a step that did not end the game at ALE (LifeLossTerminal's test; on
        # the step ALE's frame limit cuts, ALE reports the next game's lives)
        live_lost = ~by_ale & (step_lives > 0) & (step_lives < self.lives)
        lives = step_lives.copy()
        self.episode_returns += raw
        self.episode_lengths += 1
        if self.max_episode_steps is not None:  # agent steps, as Gymnasium's TimeLimit
            limit = ~by_ale & (self.episode_lengths >= self.max_episode_steps)
            if limit.any():
                cut = cut | limit
                reset_obs, reset_info = self.env.reset(options={"reset_mask": limit})
                first[limit] = reset_obs[limit][:, 0]
                lives[limit] = np.asarray(reset_info["lives"], np.int64)[limit]
        ended = game_over | cut
        terminated = game_over | (live_lost & self.terminal_on_life_loss)
        truncated = cut & ~terminated

        self.frames[:, :-1] = self.frames[:, 1:]
        self.frames[:, -1] = newest
        final_obs = {
            int(i): self._observation(int(i)) for i in np.flatnonzero(terminated | truncated)
        }
        finished = [
            (float(self.episode_returns[i]), int(self.episode_lengths[i]))
            for i in np.flatnonzero(ended)
        ]
        self.episode_returns[ended] = 0
        self.episode_lengths[ended] = 0
        # New games, and new lives where a lost life is terminal, start their stacks afresh
        # (FrameStackObservation's reset: the first frame repeated).
        self.frames[ended] = first[ended][:, None]
        if self.terminal_on_life_loss:
            restart = live_lost & ~ended
            self.frames[restart] = newest[restart][:, None]
        self.lives = lives

        rewards = raw.astype(np.float32)
        if self.clip_rewards:
            rewards = np.clip(rewards, -1.0, 1.0)
        return GroupStep(
            self._observations(out), rewards, terminated, truncated, final_obs, finished
        )

    def close(self) -> None:
        self.env.close()
