"""The asynchronous advantage actor-critic worker (Mnih et al. 2016, Algorithm S3).

One function, :func:`run_worker`, is the whole actor-learner loop. It is a generator that yields
after every update so that the ``sync`` backend can interleave workers deterministically; the
``threads`` and ``processes`` backends simply exhaust it. The worker talks to the global model
only through ``pull`` and ``push`` and emits plain records; it knows nothing of backends or logs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from typing import Any, Protocol

import numpy as np
import torch

from a3c.config import Config
from a3c.envs import EnvFactory, make_env_group
from a3c.global_model import GlobalModel, annealed
from a3c.losses import a3c_loss, clip_grad_norm
from a3c.networks import ActorCritic, RecurrentState, select_state
from a3c.returns import (
    gae_advantages,
    n_step_returns,
    running_returns,
    standardized_advantages,
)


class RecordSink(Protocol):
    def put(self, record: Any) -> None: ...


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


def worker_seeds(seed: int, rank: int, start_step: int) -> tuple[int, int]:
    """(action sampling seed, environment seed): distinct per worker, and per resumed segment."""
    a, b = np.random.SeedSequence([seed, rank, start_step]).generate_state(2)
    return int(a), int(b) % 2**31


def run_worker(
    rank: int,
    config: Config,
    global_model: GlobalModel,
    env_factory: EnvFactory,
    stop: StopFlag,
    start_time: float,
    *,
    records: RecordSink,
) -> Generator[None, None, None]:
    """Actor-learner ``rank``: repeat pull -> roll out -> returns -> loss -> push until done.

    Started afresh after a failure, it resumes from the global weights (its first ``pull``), with
    seeds drawn from the global step it starts at."""
    sample_seed, env_seed = worker_seeds(config.seed, rank, global_model.global_step)
    generator = torch.Generator().manual_seed(sample_seed)
    envs = make_env_group(env_factory, config.envs_per_worker, env_seed)
    local_model = global_model.new_local_model()
    if not isinstance(local_model, ActorCritic):
        raise TypeError("the A3C worker needs an ActorCritic global model")
    params = list(local_model.parameters())
    dist = local_model.distribution
    T, N = config.n_steps, config.envs_per_worker
    obs_shape = envs.observation_space.shape
    log = WorkerLog(rank, records, config.log_interval, start_time)

    # Rollout storage: numpy for what the environments return (cheap row writes; frames stay
    # uint8), lists for the network's outputs; one conversion per rollout, not per step.
    obs_buf = np.empty((T + 1, N, *tuple(obs_shape or ())), dtype=envs.obs_dtype)
    reward_buf = np.empty((T, N), dtype=np.float32)
    terminated_buf = np.empty((T, N), dtype=bool)
    truncated_buf = np.empty((T, N), dtype=bool)
    truncated_value_buf = torch.zeros((T, N))
    episode_start_buf = torch.zeros((T, N), dtype=torch.bool)

    obs_buf[0] = envs.reset()
    # Recurrent state ((h, c) for an LSTM, () otherwise), carried across rollouts and reset
    # where an episode starts.
    state = local_model.initial_state(N)
    episode_start = torch.ones(N, dtype=torch.bool)
    non_finite = NonFiniteUpdates(config.max_bad_updates)
    running_return = torch.zeros(N)  # each environment's discounted return so far
    returns_seen = torch.zeros(T, N)
    keep_rollout_graph = keeps_rollout_graph(local_model)
    try:
        while not stop.is_set() and global_model.global_step < config.total_steps:
            # Synchronise thread-specific parameters theta' = theta.
            global_model.pull(local_model)
            # gSDE draws its exploration noise once per rollout (a no-op for other policies).
            local_model.reset_noise(N, generator)
            state = detach_state(state)  # truncated BPTT: gradients stop at the rollout's start
            rollout_state = state

            # Perform a_t according to policy pi(a_t|s_t; theta') for t_max steps.
            actions, values, step_dist_params, step_values = [], [], [], []
            with torch.set_grad_enabled(keep_rollout_graph):
                for t in range(T):
                    episode_start_buf[t] = episode_start
                    dist_params, value, state = local_model.step(
                        torch.from_numpy(obs_buf[t]), state, episode_start
                    )
                    if keep_rollout_graph:
                        step_dist_params.append(dist_params)
                        step_values.append(value)
                        dist_params, value = tuple(p.detach() for p in dist_params), value.detach()
                    action = dist.sample(dist_params, generator)
                    step = envs.step(dist.to_env(action), out=obs_buf[t + 1])
                    actions.append(action)
                    values.append(value)
                    reward_buf[t] = step.rewards
                    terminated_buf[t] = step.terminated
                    truncated_buf[t] = step.truncated
                    # A time limit is not a terminal state: bootstrap from the final observation.
                    cut = np.flatnonzero(step.truncated)
                    if cut.size:
                        final = torch.from_numpy(np.stack([step.final_obs[int(i)] for i in cut]))
                        with torch.no_grad():
                            truncated_value_buf[t, cut] = local_model.value(
                                final, select_state(state, cut)
                            )
                    episode_start = torch.from_numpy(step.terminated | step.truncated)
                    if step.finished:
                        log.episodes(step.finished, global_model.global_step + (t + 1) * N)
            with torch.no_grad():
                # V(s_{t+1}): the next row's value, V(s_T) after the last row, and the final
                # observation's value where an episode was truncated.
                values.append(local_model.value(torch.from_numpy(obs_buf[T]), state, episode_start))
                all_values = torch.stack(values)
                value_buf, next_values = all_values[:T], all_values[1:]
                terminated, truncated = (
                    torch.from_numpy(terminated_buf),
                    torch.from_numpy(truncated_buf),
                )
                next_values = torch.where(truncated, truncated_value_buf, next_values)
                truncated_value_buf.zero_()
                rewards = torch.from_numpy(reward_buf) * config.reward_scale
                if config.normalize_reward:  # by the std of the return, as seen so far
                    returns_seen = running_returns(
                        rewards, terminated | truncated, config.gamma, running_return
                    )
                    rewards = local_model.scale_rewards(rewards)

            # n-step returns R_t = r_t + gamma * R_{t+1}, and advantages R_t - V(s_t).
            if config.gae_lambda == 1.0:
                returns = n_step_returns(rewards, next_values, terminated, truncated, config.gamma)
                advantages = returns - value_buf
            else:
                advantages = gae_advantages(
                    rewards,
                    value_buf,
                    next_values,
                    terminated,
                    truncated,
                    config.gamma,
                    config.gae_lambda,
                )
                returns = advantages + value_buf
            if config.normalize_advantage:  # after the returns: the critic keeps its targets
                advantages = standardized_advantages(advantages)

            # Accumulate gradients wrt theta' of the policy, value and entropy terms (an LSTM
            # back-propagates through the rollout from its first state).
            if keep_rollout_graph:
                dist_params = tuple(torch.cat(p) for p in zip(*step_dist_params, strict=True))
                new_values = torch.cat(step_values)
            else:
                dist_params, new_values = local_model.sequence(
                    torch.from_numpy(obs_buf[:T]), rollout_state, episode_start_buf
                )
            batch_actions = torch.stack(actions).flatten(0, 1)
            loss = a3c_loss(
                dist.log_prob(dist_params, batch_actions),
                dist.entropy(dist_params),
                new_values,
                returns.flatten(),
                advantages.flatten(),
                config.vf_coef,
                # beta, annealed like the learning rate where ent_schedule is linear
                annealed(
                    config.ent_coef,
                    config.ent_schedule,
                    global_model.global_step,
                    config.lr_horizon,
                ),
                config.value_loss,
            )
            grads = local_gradients(loss.total, params)
            grad_norm = clip_grad_norm(grads, config.max_grad_norm)

            # Perform asynchronous update of theta using the gradients (shared optimizer).
            finite = non_finite.check(loss.total, grad_norm)
            lr = global_model.push(
                rank,
                grads if finite else None,
                T * N,
                torch.from_numpy(obs_buf[:T]).flatten(0, 1)
                if config.normalize_obs and finite  # nor the statistics of a rejected update
                else None,
                returns_seen.flatten() if config.normalize_reward and finite else None,
            )
            log.update(T * N, loss, grad_norm, lr, finite, global_model.global_step)
            # The next rollout starts where this one ended. Only after the backward: the graph
            # may hold views of obs_buf's rows, and numpy's writes escape autograd's checks.
            obs_buf[0] = obs_buf[T]
            yield
        global_model.flush()
    finally:
        envs.close()
        log.flush()


class NonFiniteUpdates:
    """Consecutive updates with NaN or Inf in the loss or gradient: each is skipped, and
    ``limit`` in a row stop the worker (``max_bad_updates``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_a_row = 0

    def check(self, loss: torch.Tensor, grad_norm: float) -> bool:
        """Whether this update is finite (to apply); raises ``FloatingPointError`` at the limit."""
        finite = math.isfinite(grad_norm) and math.isfinite(float(loss.detach()))
        self.in_a_row = 0 if finite else self.in_a_row + 1
        if self.in_a_row >= self.limit:
            raise FloatingPointError(
                f"{self.in_a_row} consecutive non-finite updates (NaN or Inf in the loss or "
                "gradient); none of them was applied, so the global weights are unchanged by them"
            )
        return finite


def keeps_rollout_graph(model: ActorCritic) -> bool:
    """Where the loss's forward pass comes from: the same for the gradient, not for the time.

    A CNN keeps the graph of the rollout's own forward passes (the same theta', the same inputs),
    so the update needs no second pass: about a tenth less network time on Pong, though the
    backward through T small batches costs more than one over the rollout. A small MLP is
    cheaper to re-run once, batched over the rollout, than to back-propagate through T small
    graphs (the re-run is about 1.7x faster at MuJoCo's sizes)."""
    return model.is_convolutional


def detach_state(state: RecurrentState) -> RecurrentState:
    """The recurrent state cut from the graph that produced it."""
    return tuple(s.detach() for s in state)


def local_gradients(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    """d loss / d theta' for this rollout alone: the hand-off to ``GlobalModel.push``.

    Gradients are cleared to ``None`` first, so nothing from an earlier rollout accumulates (the
    failure of seed 003's aliasing trick on PyTorch >= 2), and the returned tensors belong to the
    local model only: the global model's ``.grad`` is never touched.
    """
    for p in params:
        p.grad = None
    loss.backward()
    return [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]


class WorkerLog:
    """Batches a worker's episode and update records, flushed every ``interval`` seconds."""

    def __init__(self, rank: int, records: RecordSink, interval: float, start_time: float) -> None:
        self.rank = rank
        self.records = records
        self.interval = interval
        self.start_time = start_time
        self.last_flush = time.time()
        self.pending_episodes: list[tuple[float, int, int, float, int]] = []
        # The last known learning rate and global step: a batch that brings episodes but no
        # update (a worker failing mid-rollout) is logged where the worker was, not at step 0.
        self.lr = 0.0
        self.global_step = 0
        self._reset_stats()

    def _reset_stats(self) -> None:
        self.sums = dict.fromkeys(("loss/policy", "loss/value", "loss/entropy", "grad_norm"), 0.0)
        self.n_updates = 0
        self.skipped = 0
        self.steps = 0

    def episodes(self, finished: list[tuple[float, int]], global_step: int) -> None:
        now = time.time() - self.start_time
        self.global_step = max(self.global_step, global_step)
        self.pending_episodes.extend(
            (now, global_step, self.rank, ret, length) for ret, length in finished
        )

    def update(
        self, steps: int, loss: Any, grad_norm: float, lr: float, applied: bool, global_step: int
    ) -> None:
        self.steps += steps
        self.lr = lr
        self.global_step = global_step
        if applied:
            self.n_updates += 1
            self.sums["loss/policy"] += float(loss.policy)
            self.sums["loss/value"] += float(loss.value)
            self.sums["loss/entropy"] += float(loss.entropy)
            self.sums["grad_norm"] += grad_norm
        else:
            self.skipped += 1
        if time.time() - self.last_flush >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Send the batch as one record: the episodes travel with the update statistics that
        count them, so a worker killed mid-send loses both or neither."""
        self.last_flush = time.time()
        if self.steps or self.pending_episodes:
            stats: dict[str, Any] = {k: v / max(self.n_updates, 1) for k, v in self.sums.items()}
            stats.update(
                rank=self.rank,
                updates=self.n_updates,
                skipped=self.skipped,
                steps=self.steps,
                lr=self.lr,
                global_step=self.global_step,
                time=self.last_flush - self.start_time,
                episodes=len(self.pending_episodes),
                finished=self.pending_episodes,
            )
            self.records.put(("updates", stats))
            self.pending_episodes = []
            self._reset_stats()
