"""What the value-based worker loops share (one-step Q, one-step Sarsa, n-step Q): acting
epsilon-greedily for a rollout, and sending an update to the global model.

The loops themselves (:mod:`~a3c.algorithms.one_step`, :mod:`~a3c.algorithms.nstep_q`) hold the
algorithm: which targets the transitions get, and the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from a3c.algorithms.exploration import annealed_epsilon, epsilon_greedy_entropy, final_epsilon
from a3c.config import Config
from a3c.distributions import epsilon_greedy
from a3c.envs import EnvFactory, make_env_group
from a3c.global_model import GlobalModel
from a3c.losses import QLoss, clip_grad_norm
from a3c.masks import allowed_actions
from a3c.networks import QNetwork
from a3c.worker import (
    NonFiniteUpdates,
    RecordSink,
    WorkerLog,
    local_gradients,
    worker_seeds,
)


@dataclass(frozen=True)
class Transitions:
    """``T`` steps of ``N`` environments, time-major: row ``t`` is ``s_t, a_t -> r_t, s_{t+1}``."""

    obs: Tensor  # [T, N, ...]: s_t
    actions: Tensor  # [T, N]: a_t
    rewards: Tensor  # [T, N]: r_t, times reward_scale
    terminated: Tensor  # [T, N] bool
    truncated: Tensor  # [T, N] bool
    next_obs: Tensor  # [T, N, ...]: s_{t+1} as the transition saw it (where truncated: the
    # final observation of the old episode, not the reset one that follows)


class EpsilonGreedyActor:
    """Worker ``rank``'s environments, stepped with an epsilon-greedy policy of a Q-network.

    Its final epsilon is drawn once from the config (per worker, the paper's three values) and
    its epsilon at any moment follows the global step."""

    def __init__(
        self,
        rank: int,
        config: Config,
        env_factory: EnvFactory,
        start_step: int,
        records: RecordSink,
        start_time: float,
    ) -> None:
        sample_seed, env_seed = worker_seeds(config.seed, rank, start_step)
        self.generator = torch.Generator().manual_seed(sample_seed)
        self.config = config
        self.envs = make_env_group(env_factory, config.envs_per_worker, env_seed)
        self.final_epsilon = final_epsilon(
            config.seed, rank, config.final_epsilons, config.final_epsilon_probs
        )
        self.log = WorkerLog(rank, records, config.log_interval, start_time)
        T, N = config.n_steps, config.envs_per_worker
        obs_shape = tuple(self.envs.observation_space.shape or ())
        self.obs_buf = np.empty((T + 1, N, *obs_shape), dtype=self.envs.obs_dtype)
        self.obs_buf[0] = self.envs.reset()
        self.reward_buf = np.empty((T, N), dtype=np.float32)
        self.terminated_buf = np.empty((T, N), dtype=bool)
        self.truncated_buf = np.empty((T, N), dtype=bool)
        self.non_finite = NonFiniteUpdates(config.max_bad_updates)

    def current_obs(self) -> Tensor:
        """The observations the next rollout starts from."""
        return torch.from_numpy(self.obs_buf[0])

    def epsilon(self, global_step: int) -> float:
        return annealed_epsilon(global_step, self.final_epsilon, self.config.epsilon_anneal_steps)

    @torch.no_grad()
    def act(self, model: QNetwork, obs: Tensor, epsilon: float) -> Tensor:
        return epsilon_greedy(model.q_values(obs), epsilon, self.generator, model.has_action_mask)

    @torch.no_grad()
    def collect(
        self, model: QNetwork, epsilon: float, global_step: int, first_actions: Tensor | None
    ) -> Transitions:
        """Act for ``n_steps`` from where the last rollout ended (``first_actions``: the actions
        already chosen for its first state, as Sarsa chooses them)."""
        T, N = self.config.n_steps, self.config.envs_per_worker
        actions = torch.empty((T, N), dtype=torch.int64)
        final_obs: list[tuple[int, int, np.ndarray]] = []
        for t in range(T):
            obs = torch.from_numpy(self.obs_buf[t])
            if t == 0 and first_actions is not None:
                actions[t] = first_actions
            else:
                actions[t] = self.act(model, obs, epsilon)
            step = self.envs.step(model.distribution.to_env(actions[t]), out=self.obs_buf[t + 1])
            self.reward_buf[t] = step.rewards
            self.terminated_buf[t] = step.terminated
            self.truncated_buf[t] = step.truncated
            final_obs += [(t, i, o) for i, o in step.final_obs.items() if step.truncated[i]]
            if step.finished:
                self.log.episodes(step.finished, global_step + (t + 1) * N)
        next_obs = self.obs_buf[1:].copy()
        for t, i, o in final_obs:  # a time limit is not a terminal state: bootstrap from it
            next_obs[t, i] = o
        transitions = Transitions(
            torch.from_numpy(self.obs_buf[:T].copy()),
            actions,
            torch.from_numpy(self.reward_buf.copy()) * self.config.reward_scale,
            torch.from_numpy(self.terminated_buf.copy()),
            torch.from_numpy(self.truncated_buf.copy()),
            torch.from_numpy(next_obs),
        )
        self.obs_buf[0] = self.obs_buf[T]  # the next rollout starts where this one ended
        return transitions

    def push(
        self,
        rank: int,
        global_model: GlobalModel,
        model: QNetwork,
        loss: Tensor,
        transitions: Transitions,
        epsilon: float,
    ) -> None:
        """d loss / d theta', clipped, applied to theta with the shared optimizer (a non-finite
        update is skipped, and too many in a row stop the run), and logged."""
        params = list(model.parameters())
        grads = local_gradients(loss, params)
        grad_norm = clip_grad_norm(grads, self.config.max_grad_norm)
        finite = self.non_finite.check(loss, grad_norm)
        steps = transitions.actions.numel()
        lr = global_model.push(
            rank,
            grads if finite else None,
            steps,
            transitions.obs.flatten(0, 1) if self.config.normalize_obs and finite else None,
        )
        logged = QLoss(loss, loss.detach(), self.entropy(model, transitions, epsilon))
        self.log.update(steps, logged, grad_norm, lr, finite, global_model.global_step)

    @staticmethod
    def entropy(model: QNetwork, transitions: Transitions, epsilon: float) -> float:
        """The mean entropy of the epsilon-greedy policy over the transitions' states: over all
        actions, or where the states hold an action mask, over each state's allowed ones."""
        n = model.distribution.n
        if not model.has_action_mask:
            return epsilon_greedy_entropy(epsilon, n)
        obs = transitions.obs.flatten(0, 1)  # allowed as the network reads the mask
        allowed = allowed_actions(model.masked(torch.zeros(len(obs), n), obs)).sum(-1)
        counts, rows = allowed.unique(return_counts=True)
        entropies = [epsilon_greedy_entropy(epsilon, int(k)) for k in counts]
        return float(np.dot(entropies, rows.numpy()) / int(rows.sum()))

    def close(self) -> None:
        self.envs.close()
        self.log.flush()


def local_q_network(global_model: GlobalModel) -> QNetwork:
    model = global_model.new_local_model()
    if not isinstance(model, QNetwork):
        raise TypeError("the value-based algorithms need a QNetwork global model")
    return model
