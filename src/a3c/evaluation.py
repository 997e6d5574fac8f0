"""Evaluation of a policy on separate environments, and the evaluator that runs during training.

The evaluator follows the global step counter (a step cadence, not a sleep-based one, unlike seed
003's test process) and snapshots the global weights before each evaluation.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch

from a3c.envs import EnvFactory, GymnasiumApi, check_fits, has_time_limit, reward_number
from a3c.global_model import GlobalModel
from a3c.networks import Model, select_state
from a3c.spaces import check_layouts, flat_observations, observation_space_of

if TYPE_CHECKING:
    from a3c.config import Config
    from a3c.worker import RecordSink, StopFlag

EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes never share seeds with training ones
# Where nothing else ends an episode (no time limit), evaluation cuts it here: a greedy policy
# that never finishes (walks into a wall forever) would otherwise hold up the run forever.
EVAL_STEP_CAP = 10_000


@dataclass(frozen=True)
class EvalResult:
    returns: np.ndarray
    lengths: np.ndarray
    cut: int = 0  # episodes cut at ``max_steps``, not ended by the environment

    @property
    def mean(self) -> float:
        return float(self.returns.mean())

    @property
    def std(self) -> float:
        return float(self.returns.std())


class EvaluationStopped(Exception):
    """An evaluation was abandoned because the run was asked to stop."""


@torch.no_grad()
def play_episodes(
    model: Model,
    envs: Sequence[gym.Env],
    seeds: Sequence[int],
    deterministic: bool = True,
    generator: torch.Generator | None = None,
    stop: StopFlag | None = None,
    max_steps: int | None = None,
) -> EvalResult:
    """Play one whole episode in each of ``envs`` (reset with ``seeds``), stepped together; with
    ``max_steps``, an episode that has not ended by then is cut there (counted in ``cut``).

    Raises :class:`EvaluationStopped` as soon as ``stop`` is set: a long evaluation (whole Atari
    games) must not hold up the end of a run."""
    dist = model.distribution
    n = len(envs)
    obs = [env.reset(seed=s)[0] for env, s in zip(envs, seeds, strict=True)]
    state = model.initial_state(n)
    returns = np.zeros(n)
    lengths = np.zeros(n, dtype=np.int64)
    active = list(range(n))
    cut = 0
    while active:
        if stop is not None and stop.is_set():
            raise EvaluationStopped
        batch = torch.as_tensor(np.stack([obs[i] for i in active]))
        params, _, active_state = model.step(batch, select_state(state, active))
        for full, part in zip(state, active_state, strict=True):
            full[active] = part
        actions = dist.mode(params) if deterministic else dist.sample(params, generator)
        env_actions = dist.to_env(actions)
        still = []
        for j, i in enumerate(active):
            obs[i], reward, terminated, truncated, _ = envs[i].step(env_actions[j])
            returns[i] += reward_number(reward)
            lengths[i] += 1
            if terminated or truncated:
                continue
            if max_steps is not None and lengths[i] >= max_steps:
                cut += 1
            else:
                still.append(i)
        active = still
    return EvalResult(returns, lengths, cut)


def step_cap(env: gym.Env) -> int | None:
    """The evaluation's cap on episode length for ``env``: none where a time limit ends its
    episodes, :data:`EVAL_STEP_CAP` where nothing may."""
    return None if has_time_limit(env) else EVAL_STEP_CAP


def warn_if_cut(result: EvalResult, env_name: str) -> None:
    if result.cut:
        warnings.warn(
            f"{result.cut} of {len(result.returns)} evaluation episodes had not ended after "
            f"{EVAL_STEP_CAP:,} steps and were cut there: {env_name} has no time limit (give it "
            "one with max_episode_steps, --max-episode-steps)",
            RuntimeWarning,
            stacklevel=3,
        )


def run_episodes(
    model: Model,
    env_factory: EnvFactory,
    n_episodes: int,
    deterministic: bool = True,
    seed: int = 0,
    stop: StopFlag | None = None,
    video_dir: Path | None = None,
    video_names: Sequence[str] = (),
) -> EvalResult:
    """Play ``n_episodes`` full episodes, one per environment, stepped together (batched).

    Scored as the environment is scored: whole games with unclipped rewards (Atari). ``stop``:
    see :func:`play_episodes`. With ``video_dir``, the first episodes are recorded there, one
    per name of ``video_names``, as ``<name>.mp4``."""
    env_factory = env_factory.for_evaluation()
    names = list(video_names)[:n_episodes] if video_dir is not None else []
    recorded = len(names)
    envs = []
    played = False
    try:
        if recorded:
            from a3c.video import recording_env

            assert video_dir is not None
            video_dir.mkdir(parents=True, exist_ok=True)
            envs += [recording_env(env_factory, video_dir, name) for name in names]
        envs += [env_factory() for _ in range(n_episodes - recorded)]
        generator = torch.Generator().manual_seed(seed)
        seeds = [seed + i for i in range(n_episodes)]
        result = play_episodes(
            model, envs, seeds, deterministic, generator, stop, step_cap(envs[0])
        )
        played = True
        warn_if_cut(result, env_factory.env_id)
        return result
    finally:
        for env in envs:
            env.close()  # RecordVideo writes its file now
        if recorded:
            from a3c.video import settle_video

            assert video_dir is not None
            for name in names:  # an abandoned evaluation's videos are removed, not kept half
                settle_video(video_dir, name, keep=played)


def evaluate_policy(
    agent: Any,
    env: str | EnvFactory | gym.Env | None = None,
    n_episodes: int = 10,
    deterministic: bool = True,
    seed: int = 0,
    *,
    n_eval_episodes: int | None = None,
) -> tuple[float, float]:
    """Mean and standard deviation of the return of an :class:`~a3c.A3C` agent (or a model).

    ``n_eval_episodes`` is Stable-Baselines3's name for ``n_episodes``, taken for code that
    calls its ``evaluate_policy`` so.

    ``env`` defaults to the agent's own environment; it may be a Gymnasium id (whose frames and
    words are read as the agent learned to: :meth:`a3c.envs.EnvFactory.with_observations_of`),
    an :class:`~a3c.envs.EnvFactory`, or a ``gym.Env`` instance (Stable-Baselines3's habit; its
    words read as the agent's; give it :func:`a3c.frames.preprocess_frames` yourself where the
    agent's frames had it), on which the episodes are played one after another (the caller keeps
    and closes it). On an
    environment with no time limit, an episode still running after :data:`EVAL_STEP_CAP` steps
    is cut there, with a warning.
    """
    if n_eval_episodes is not None:
        n_episodes = n_eval_episodes
    model = getattr(agent, "model", agent)
    if env is None:
        env = agent.env_factory
    if isinstance(env, gym.Env):
        trained_on = getattr(agent, "env_factory", None)  # a bare model: the default words
        words = "hashed" if trained_on is None else trained_on.words
        masks = "none" if trained_on is None else trained_on.action_mask
        # the caller's, as workers see theirs
        env = flat_observations(GymnasiumApi(env), words, masks)
        if trained_on is not None:
            name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
            learned = (agent.observation_space, agent.action_space)
            check_layouts(name, learned, (observation_space_of(env), env.action_space))
        generator = torch.Generator().manual_seed(seed)
        max_steps = step_cap(env)
        results = [
            play_episodes(model, [env], [seed + i], deterministic, generator, None, max_steps)
            for i in range(n_episodes)
        ]
        returns = np.concatenate([r.returns for r in results])
        lengths = np.concatenate([r.lengths for r in results])
        result = EvalResult(returns, lengths, sum(r.cut for r in results))
        warn_if_cut(result, env.spec.id if env.spec is not None else "the environment")
    elif isinstance(env, str | EnvFactory):
        factory = env if isinstance(env, EnvFactory) else EnvFactory(env)
        trained_on = getattr(agent, "env_factory", None)
        if isinstance(env, str) and trained_on is not None:  # read as it learned to
            factory = factory.with_observations_of(trained_on)
        if trained_on is not None and factory.spaces_differ(trained_on):
            check_fits(factory, agent.observation_space, agent.action_space)
        result = run_episodes(model, factory, n_episodes, deterministic, seed)
    else:
        raise TypeError(
            f"evaluate_policy takes a Gymnasium id, an EnvFactory or a gym.Env, not "
            f"{type(env).__name__}"
        )
    return result.mean, result.std


def run_evaluator(
    config: Config,
    global_model: GlobalModel,
    env_factory: EnvFactory,
    stop: StopFlag,
    start_time: float,
    poll_interval: float = 0.05,
    video_dir: Path | None = None,
    *,
    records: RecordSink,
) -> Generator[None, None, None]:
    """Evaluate the global policy each time the step counter crosses a multiple of
    ``eval_interval``, until training ends. Emits ``("eval", {...})`` records. Every
    ``video_interval``-th evaluation (with ``video_dir``) records its first episode there as
    ``step-<global step>.mp4``."""
    import time

    interval = config.eval_interval
    evaluations = 0
    local_model = global_model.new_local_model()
    next_eval = (global_model.global_step // interval + 1) * interval
    while not stop.is_set():
        step = global_model.global_step
        if step >= config.total_steps:
            break
        if step >= next_eval:
            global_model.pull(local_model)
            evaluations += 1
            filmed = video_dir is not None and evaluations % max(config.video_interval, 1) == 0
            try:
                result = run_episodes(
                    local_model,
                    env_factory,
                    config.eval_episodes,
                    config.eval_deterministic,
                    config.seed + EVAL_SEED_OFFSET,
                    stop,
                    video_dir if filmed else None,
                    [f"step-{step}"],
                )
            except EvaluationStopped:  # the run ends: this evaluation is abandoned, not failed
                return
            records.put(("eval", eval_record(result, step, time.time() - start_time)))
            next_eval = (step // interval + 1) * interval
        elif poll_interval > 0:
            time.sleep(poll_interval)
        yield


def eval_record(result: EvalResult, global_step: int, wall_time: float) -> dict[str, float]:
    return {
        "wall_time": wall_time,
        "global_step": global_step,
        "mean_return": result.mean,
        "std_return": result.std,
        "mean_length": float(result.lengths.mean()),
        "episodes": len(result.returns),
    }
