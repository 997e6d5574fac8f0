"""Per-worker epsilon-greedy exploration of the value-based algorithms (the paper, section 5.1:
"each thread's final epsilon is sampled from {0.1, 0.01, 0.5} with probabilities {0.4, 0.3, 0.3},
annealed from 1 over the first four million frames")."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def final_epsilon(seed: int, rank: int, values: Sequence[float], probs: Sequence[float]) -> float:
    """Worker ``rank``'s final epsilon, drawn from ``values`` with ``probs``.

    A function of the run's seed and the rank alone: a worker restarted after a failure, or a
    resumed run, explores with the epsilon it had."""
    rng = np.random.default_rng([seed, rank, 0x65707331])  # a stream of its own ("eps1")
    return float(values[int(rng.choice(len(values), p=np.asarray(probs, dtype=float)))])


def annealed_epsilon(global_step: int, final: float, anneal_steps: int) -> float:
    """Linear from 1 at step 0 to ``final`` at ``anneal_steps``, then ``final``.

    The schedule's position is the global step (saved in every checkpoint)."""
    return 1.0 + (final - 1.0) * min(1.0, global_step / anneal_steps)


def epsilon_greedy_entropy(epsilon: float, n_actions: int) -> float:
    """The entropy of an epsilon-greedy policy over ``n_actions`` (a unique greedy action)."""
    greedy = 1.0 - epsilon + epsilon / n_actions
    other = epsilon / n_actions
    entropy = -greedy * math.log(greedy)
    if other > 0:
        entropy -= (n_actions - 1) * other * math.log(other)
    return entropy
