"""The peers: Stable-Baselines3 A2C and PPO with the RL-Zoo's hyper-parameters.

Taken from rl-baselines3-zoo ``hyperparams/a2c.yml`` and ``hyperparams/ppo.yml`` (CartPole-v1,
Pendulum-v1). ``normalize: True`` there means ``VecNormalize`` of observations and rewards, with
the algorithm's gamma; ``lin_X`` means a learning rate annealed linearly from X to 0 over
``n_timesteps``. Requires the ``bench`` extra (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

from typing import Any


def linear(start: float) -> Any:
    return lambda progress_remaining: progress_remaining * start


def zoo_hyperparameters(algo: str, env_id: str) -> dict[str, Any]:
    """(n_envs, n_timesteps, normalize, constructor kwargs) as the zoo gives them."""
    table: dict[tuple[str, str], dict[str, Any]] = {
        ("a2c", "CartPole-v1"): dict(
            n_envs=8, n_timesteps=500_000, normalize=False, kwargs=dict(ent_coef=0.0)
        ),
        ("ppo", "CartPole-v1"): dict(
            n_envs=8,
            n_timesteps=100_000,
            normalize=False,
            kwargs=dict(
                n_steps=32,
                batch_size=256,
                gae_lambda=0.8,
                gamma=0.98,
                n_epochs=20,
                ent_coef=0.0,
                learning_rate=linear(0.001),
                clip_range=linear(0.2),
            ),
        ),
        ("a2c", "Pendulum-v1"): dict(
            n_envs=8,
            n_timesteps=1_000_000,
            normalize=True,
            kwargs=dict(
                ent_coef=0.0,
                max_grad_norm=0.5,
                n_steps=8,
                gae_lambda=0.9,
                vf_coef=0.4,
                gamma=0.9,
                use_rms_prop=True,
                normalize_advantage=False,
                learning_rate=linear(7e-4),
                use_sde=True,
                policy_kwargs=dict(log_std_init=-2, ortho_init=False),
            ),
        ),
        ("ppo", "Pendulum-v1"): dict(
            n_envs=4,
            n_timesteps=100_000,
            normalize=False,
            kwargs=dict(
                n_steps=1024,
                gae_lambda=0.95,
                gamma=0.9,
                n_epochs=10,
                ent_coef=0.0,
                learning_rate=1e-3,
                clip_range=0.2,
                use_sde=True,
                sde_sample_freq=4,
            ),
        ),
    }
    return table[(algo, env_id)]


def run_sb3(algo: str, env_id: str, seed: int, threshold: float) -> dict[str, Any]:
    """Train until the last-100 training-episode mean reaches ``threshold`` or the zoo's budget
    runs out. Time counts from the ``learn`` call; there is no evaluation."""
    import time

    import numpy as np
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    hp = zoo_hyperparameters(algo, env_id)
    env = make_vec_env(env_id, n_envs=hp["n_envs"], seed=seed)
    if hp["normalize"]:
        env = VecNormalize(env, gamma=hp["kwargs"].get("gamma", 0.99))
    model_cls = A2C if algo == "a2c" else PPO
    model = model_cls("MlpPolicy", env, seed=seed, verbose=0, **hp["kwargs"])

    class StopWhenSolved(BaseCallback):
        solved: tuple[float, int] | None = None

        def _on_step(self) -> bool:
            episodes = self.model.ep_info_buffer  # the last 100 finished episodes (Monitor)
            if len(episodes) == 100 and np.mean([e["r"] for e in episodes]) >= threshold:
                self.solved = (time.perf_counter() - start, self.model.num_timesteps)
                return False
            return True

    callback = StopWhenSolved()
    start = time.perf_counter()
    model.learn(total_timesteps=hp["n_timesteps"], callback=callback)
    wall = time.perf_counter() - start
    return {
        "solved": callback.solved is not None,
        "time_to_solve_s": None if callback.solved is None else callback.solved[0],
        "steps_to_solve": None if callback.solved is None else callback.solved[1],
        "wall_s": wall,
        "steps": int(model.num_timesteps),
    }
