"""Small builders shared by the tests."""

import csv

import gymnasium as gym
import numpy as np

from a3c.distributions import make_distribution
from a3c.networks import ActorCritic


def tiny_model(discrete: bool = True, **kwargs) -> ActorCritic:
    space = gym.spaces.Discrete(2) if discrete else gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    return ActorCritic((4,), make_distribution(space), hidden_sizes=(8,), **kwargs)


#: every in-machine way to run workers: (backend, start method)
EVERY_BACKEND = [
    ("sync", None),
    ("threads", None),
    ("processes", "fork"),
    ("processes", "spawn"),
    ("processes", "forkserver"),
]


def small_run(tmp_path, **kw):
    """Settings of a short training run in ``tmp_path``, quiet and quick; ``kw`` overrides."""
    base = dict(
        total_steps=3_000,
        eval_interval=1_000,
        eval_episodes=2,
        checkpoint_interval=1_000,
        progress=False,
        tensorboard=False,
        run_dir=str(tmp_path),
        workers=2,
        envs_per_worker=2,
        n_steps=5,
        log_interval=0.0,
    )
    base.update(kw)
    return base


def read_rows(path):
    """The rows of a CSV log as dicts."""
    with open(path) as f:
        return list(csv.DictReader(f))
