"""Asynchronous n-step Q-learning (Mnih et al. 2016, Algorithm S2).

Each worker acts epsilon-greedily for ``n_steps`` steps with its copy of the Q-network, then
computes the forward-view n-step returns backwards from ``R = max_a Q(s_T, a; theta^-)`` (0 at a
terminal state): ``R <- r_i + gamma * R``, and accumulates the gradients of
``(R - Q(s_i, a_i; theta'))^2`` over the rollout, applied to the global weights with the shared
optimizer. An episode ending inside the rollout restarts the recursion: from 0 where it
terminated, from ``max_a Q^-`` of the final observation where it was truncated (exactly A3C's
:func:`~a3c.returns.n_step_returns`, with the target network's greedy value in place of V).
"""

from __future__ import annotations

from collections.abc import Generator

import torch

from a3c.algorithms.value_based import EpsilonGreedyActor, local_q_network
from a3c.config import Config
from a3c.envs import EnvFactory
from a3c.global_model import GlobalModel
from a3c.losses import q_learning_loss
from a3c.returns import n_step_returns
from a3c.worker import RecordSink, StopFlag


def run_nstep_q_worker(
    rank: int,
    config: Config,
    global_model: GlobalModel,
    env_factory: EnvFactory,
    stop: StopFlag,
    start_time: float,
    *,
    records: RecordSink,
) -> Generator[None, None, None]:
    """Actor-learner ``rank`` of n-step Q-learning."""
    actor = EpsilonGreedyActor(
        rank, config, env_factory, global_model.global_step, records, start_time
    )
    local_model = local_q_network(global_model)
    try:
        while not stop.is_set() and global_model.global_step < config.total_steps:
            # theta' <- theta (and the target network theta^- with it).
            global_model.pull(local_model)
            epsilon = actor.epsilon(global_model.global_step)
            batch = actor.collect(local_model, epsilon, global_model.global_step, None)

            with torch.no_grad():
                # max_a Q(s_{t+1}, a; theta^-), needed only where the recursion bootstraps: the
                # rollout's last row and truncations (at a termination it is cut to 0), so the
                # target network sees those observations alone (on Pong, 8 frames of 40).
                bootstraps = batch.truncated.clone()
                bootstraps[-1] = True
                next_values = torch.zeros_like(batch.rewards)
                next_q = local_model.target_q_values(batch.next_obs[bootstraps])
                next_values[bootstraps] = next_q.max(dim=-1).values
                returns = n_step_returns(
                    batch.rewards, next_values, batch.terminated, batch.truncated, config.gamma
                )

            # Accumulate gradients wrt theta' of (R - Q(s_i, a_i; theta'))^2, then update theta.
            loss = q_learning_loss(
                local_model.q_values(batch.obs.flatten(0, 1)),
                batch.actions.flatten(),
                returns.flatten(),
                config.value_loss,
            )
            actor.push(rank, global_model, local_model, loss, batch, epsilon)
            yield
        global_model.flush()
    finally:
        actor.close()
