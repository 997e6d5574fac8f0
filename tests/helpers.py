"""Small builders shared by the tests."""

import csv
import subprocess
import sys

import gymnasium as gym
import numpy as np

from a3c.config import Config
from a3c.distributions import make_distribution
from a3c.envs import EnvFactory
from a3c.global_model import SharedGlobalModel
from a3c.networks import ActorCritic
from a3c.worker import run_worker


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


def a3c(*args, cwd):
    """``python -m a3c ARGS`` in ``cwd``, as a user runs it: the finished process, output kept."""
    return subprocess.run(
        [sys.executable, "-m", "a3c", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


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


def run_updates(config: Config, gm: SharedGlobalModel, factory: EnvFactory, updates: int) -> None:
    """Worker 0's first ``updates`` rollouts and updates, in this thread."""

    class Records:
        def put(self, record):
            pass

    class Never:
        def is_set(self):
            return False

    worker = run_worker(0, config, gm, factory, Never(), 0.0, records=Records())
    for _ in range(updates):
        next(worker)
    worker.close()


def quick(tmp_path, **kw):
    """Settings of a learning run with the family's defaults in ``tmp_path``, quiet; ``kw``
    overrides."""
    settings = dict(run_dir=str(tmp_path), progress=False, tensorboard=False, seed=0)
    return {**settings, "eval_interval": 0, "checkpoint_interval": 0, **kw}
