"""Asynchronous one-step Q-learning (Mnih et al. 2016, Algorithm 1) and one-step Sarsa.

Each worker acts epsilon-greedily with its copy of the Q-network; each transition's target is

- Q-learning: ``y = r + gamma * max_a' Q(s', a'; theta^-)``,
- Sarsa: ``y = r + gamma * Q(s', a'; theta^-)``, ``a'`` the action actually taken in ``s'``,

(``y = r`` where the episode terminated), from the shared target network ``theta^-``; gradients
of ``(y - Q(s, a; theta'))^2`` are accumulated over ``n_steps`` (the paper's I_AsyncUpdate) steps
of every environment and applied to the global weights with the shared optimizer. The target
network is copied from the global weights every ``target_interval`` global steps (by the global
model, :class:`~a3c.global_model.SharedGlobalModel`).

As in the A3C loop, updates come every ``n_steps`` steps rather than also at each episode's end
(with several environments per worker, episodes end at different steps).
"""

from __future__ import annotations

from collections.abc import Generator

import torch

from a3c.algorithms.value_based import EpsilonGreedyActor, local_q_network
from a3c.config import Config
from a3c.envs import EnvFactory
from a3c.global_model import GlobalModel
from a3c.losses import q_learning_loss
from a3c.returns import one_step_targets
from a3c.worker import RecordSink, StopFlag


def run_one_step_worker(
    rank: int,
    config: Config,
    global_model: GlobalModel,
    env_factory: EnvFactory,
    stop: StopFlag,
    start_time: float,
    *,
    records: RecordSink,
) -> Generator[None, None, None]:
    """Actor-learner ``rank`` of one-step Q-learning (``config.algo == "q"``) or one-step Sarsa
    (``"sarsa"``)."""
    sarsa = config.algo == "sarsa"
    actor = EpsilonGreedyActor(
        rank, config, env_factory, global_model.global_step, records, start_time
    )
    local_model = local_q_network(global_model)
    next_actions = None  # Sarsa: the actions chosen for the state the last rollout ended in
    try:
        while not stop.is_set() and global_model.global_step < config.total_steps:
            # theta' <- theta (and the target network theta^- with it).
            global_model.pull(local_model)
            epsilon = actor.epsilon(global_model.global_step)
            batch = actor.collect(local_model, epsilon, global_model.global_step, next_actions)

            with torch.no_grad():
                next_q = local_model.target_q_values(batch.next_obs.flatten(0, 1))
                next_q = next_q.reshape(*batch.rewards.shape, -1)
                if sarsa:
                    # a' is the next action taken: the rollout's next row, then the action
                    # chosen now for the state it ended in (taken first in the next rollout);
                    # past a time limit, the action the policy takes in the final observation.
                    next_actions = actor.act(local_model, actor.current_obs(), epsilon)
                    following = torch.cat([batch.actions[1:], next_actions[None]])
                    cut = batch.truncated
                    if cut.any():
                        following[cut] = actor.act(local_model, batch.next_obs[cut], epsilon)
                    next_values = next_q.gather(-1, following.unsqueeze(-1)).squeeze(-1)
                else:
                    next_values = next_q.max(dim=-1).values
                targets = one_step_targets(
                    batch.rewards, next_values, batch.terminated, config.gamma
                )

            # Accumulate gradients wrt theta' of (y - Q(s, a; theta'))^2, then update theta.
            loss = q_learning_loss(
                local_model.q_values(batch.obs.flatten(0, 1)),
                batch.actions.flatten(),
                targets.flatten(),
                config.value_loss,
            )
            actor.push(rank, global_model, local_model, loss, batch, epsilon)
            yield
        global_model.flush()
    finally:
        actor.close()
