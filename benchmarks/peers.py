"""The peers: Stable-Baselines3 A2C and PPO with the RL-Zoo's hyper-parameters.

Taken from rl-baselines3-zoo ``hyperparams/a2c.yml`` and ``hyperparams/ppo.yml`` (HEAD 22e3ff2,
2026-04) for every env of the suites (``benchmarks/suite.py``). ``normalize: True`` there means
``VecNormalize`` of observations and rewards, with the entry's gamma (else 0.99); ``lin_X`` means
a schedule annealed linearly from X to 0 over the training; ``n_envs`` is 1 where an entry leaves
it out; ``policy_kwargs`` name their activation (``"ReLU"``: ``torch.nn.ReLU``). The zoo looks an
id up exactly and falls back to its ``default`` entry (SB3's defaults, no normalisation, 1M
steps); where it keeps an env only under an older version (MuJoCo ``-v4``/``-v2``) we take that
entry for the current id, and say so in the entry's ``note``. Requires the ``bench`` extra
(``pip install -e ".[bench]"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# SB3's default entry: what the zoo uses for an id it has no key for.
ZOO_DEFAULT: dict[str, Any] = dict(n_envs=1, n_timesteps=1_000_000, normalize=False, kwargs={})

# A2C's "tuned gSDE recipe", shared by Pendulum, LunarLanderContinuous, BipedalWalker (and the
# PyBullet envs) in a2c.yml; each entry overrides gamma and the learning rate.
_A2C_GSDE: dict[str, Any] = dict(
    ent_coef=0.0,
    max_grad_norm=0.5,
    n_steps=8,
    gae_lambda=0.9,
    vf_coef=0.4,
    gamma=0.99,
    use_rms_prop=True,
    normalize_advantage=False,
    use_sde=True,
    policy_kwargs=dict(log_std_init=-2, ortho_init=False),
)
_RELU_256 = dict(activation_fn="ReLU", net_arch=dict(pi=[256, 256], vf=[256, 256]))


def linear(start: float) -> Any:
    return lambda progress_remaining: progress_remaining * start


def _older(key: str) -> str:
    return f"the zoo's {key} entry (it has none for this version)"


def _zoo_table() -> dict[tuple[str, str], dict[str, Any]]:
    """(algo, env id) -> n_envs, n_timesteps, normalize, constructor kwargs and a note."""
    mujoco = dict(n_envs=1, n_timesteps=1_000_000, normalize=True)  # a2c.yml's mujoco-defaults
    no_a2c = "the zoo has no A2C entry: its default (SB3's defaults, 1M steps)"
    no_toy_text = "the zoo has no toy text: its default (SB3's defaults, 1M steps)"
    ppo_lunar = dict(
        n_envs=16,
        n_timesteps=1_000_000,
        normalize=False,
        kwargs=dict(
            n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01
        ),
    )
    return {
        # --- classic control ------------------------------------------------------------------
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
        ("a2c", "Acrobot-v1"): dict(
            n_envs=16, n_timesteps=500_000, normalize=True, kwargs=dict(ent_coef=0.0)
        ),
        ("ppo", "Acrobot-v1"): dict(
            n_envs=16,
            n_timesteps=1_000_000,
            normalize=True,
            kwargs=dict(n_steps=256, gae_lambda=0.94, gamma=0.99, n_epochs=4, ent_coef=0.0),
        ),
        ("a2c", "MountainCar-v0"): dict(
            n_envs=16, n_timesteps=1_000_000, normalize=True, kwargs=dict(ent_coef=0.0)
        ),
        ("ppo", "MountainCar-v0"): dict(
            n_envs=16,
            n_timesteps=1_000_000,
            normalize=True,
            kwargs=dict(n_steps=16, gae_lambda=0.98, gamma=0.99, n_epochs=4, ent_coef=0.0),
        ),
        ("a2c", "Pendulum-v1"): dict(
            n_envs=8,
            n_timesteps=1_000_000,
            normalize=True,
            kwargs=dict(_A2C_GSDE, gamma=0.9, learning_rate=linear(7e-4)),
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
        ("a2c", "MountainCarContinuous-v0"): dict(
            n_envs=4,
            n_timesteps=100_000,
            normalize=True,
            kwargs=dict(
                n_steps=100,
                ent_coef=0.0,
                use_sde=True,
                sde_sample_freq=16,
                policy_kwargs=dict(log_std_init=0.0, ortho_init=False),
            ),
        ),
        ("ppo", "MountainCarContinuous-v0"): dict(
            n_envs=1,
            n_timesteps=20_000,
            normalize=True,
            kwargs=dict(
                batch_size=256,  # > the 8-step rollout: one minibatch of 8 (as in the zoo)
                n_steps=8,
                gamma=0.9999,
                learning_rate=7.77e-05,
                ent_coef=0.00429,
                clip_range=0.1,
                n_epochs=10,
                gae_lambda=0.9,
                max_grad_norm=5,
                vf_coef=0.19,
                use_sde=True,
                policy_kwargs=dict(log_std_init=-3.29, ortho_init=False),
            ),
        ),
        # --- Box2D ----------------------------------------------------------------------------
        ("a2c", "LunarLander-v3"): dict(
            n_envs=8,
            n_timesteps=200_000,
            normalize=False,
            kwargs=dict(gamma=0.995, n_steps=5, learning_rate=linear(0.00083), ent_coef=0.00001),
        ),
        ("ppo", "LunarLander-v3"): ppo_lunar,
        ("a2c", "LunarLanderContinuous-v3"): dict(
            n_envs=4,
            n_timesteps=5_000_000,
            normalize=True,
            kwargs=dict(_A2C_GSDE, learning_rate=linear(7e-4)),
        ),
        ("ppo", "LunarLanderContinuous-v3"): ppo_lunar,
        ("a2c", "BipedalWalker-v3"): dict(
            n_envs=16,
            n_timesteps=5_000_000,
            normalize=True,
            kwargs=dict(_A2C_GSDE, learning_rate=linear(0.00096)),
        ),
        ("ppo", "BipedalWalker-v3"): dict(
            n_envs=32,
            n_timesteps=5_000_000,
            normalize=True,
            kwargs=dict(
                n_steps=2048,
                batch_size=64,
                gae_lambda=0.95,
                gamma=0.999,
                n_epochs=10,
                ent_coef=0.0,
                learning_rate=3e-4,
                clip_range=0.18,
            ),
        ),
        # --- MuJoCo v5 ------------------------------------------------------------------------
        ("a2c", "InvertedPendulum-v5"): dict(ZOO_DEFAULT, note=no_a2c),
        ("ppo", "InvertedPendulum-v5"): dict(
            n_envs=1,
            n_timesteps=1_000_000,
            normalize=True,
            kwargs=dict(
                batch_size=64,  # > the 32-step rollout: one minibatch of 32 (as in the zoo)
                n_steps=32,
                gamma=0.999,
                learning_rate=0.000222425,
                ent_coef=1.37976e-07,
                clip_range=0.4,
                n_epochs=5,
                gae_lambda=0.9,
                max_grad_norm=0.3,
                vf_coef=0.19816,
            ),
            note=_older("InvertedPendulum-v2"),
        ),
        ("a2c", "InvertedDoublePendulum-v5"): dict(ZOO_DEFAULT, note=no_a2c),
        ("ppo", "InvertedDoublePendulum-v5"): dict(
            n_envs=1,
            n_timesteps=1_000_000,
            normalize=True,
            kwargs=dict(
                batch_size=512,  # > the 128-step rollout: one minibatch of 128 (as in the zoo)
                n_steps=128,
                gamma=0.98,
                learning_rate=0.000155454,
                ent_coef=1.05057e-06,
                clip_range=0.4,
                n_epochs=10,
                gae_lambda=0.8,
                max_grad_norm=0.5,
                vf_coef=0.695929,
            ),
            note=_older("InvertedDoublePendulum-v2"),
        ),
        ("a2c", "Reacher-v5"): dict(ZOO_DEFAULT, note=no_a2c),
        ("ppo", "Reacher-v5"): dict(
            n_envs=1,
            n_timesteps=1_000_000,
            normalize=True,
            kwargs=dict(
                batch_size=32,
                n_steps=512,
                gamma=0.9,
                learning_rate=0.000104019,
                ent_coef=7.52585e-08,
                clip_range=0.3,
                n_epochs=5,
                gae_lambda=1.0,
                max_grad_norm=0.9,
                vf_coef=0.950368,
            ),
            note=_older("Reacher-v2"),
        ),
        ("a2c", "Swimmer-v5"): dict(mujoco, kwargs=dict(gamma=0.9999), note=_older("Swimmer-v4")),
        ("ppo", "Swimmer-v5"): dict(
            n_envs=4,
            n_timesteps=1_000_000,
            normalize=True,
            kwargs=dict(
                gamma=0.9999, n_steps=1024, batch_size=256, learning_rate=6e-4, gae_lambda=0.98
            ),
            note=_older("Swimmer-v4"),
        ),
        ("a2c", "HalfCheetah-v5"): dict(mujoco, kwargs={}, note=_older("HalfCheetah-v4")),
        ("ppo", "HalfCheetah-v5"): dict(
            n_envs=1,
            n_timesteps=1_000_000,
            normalize=True,
            kwargs=dict(
                batch_size=64,
                n_steps=512,
                gamma=0.98,
                learning_rate=2.0633e-05,
                ent_coef=0.000401762,
                clip_range=0.1,
                n_epochs=20,
                gae_lambda=0.92,
                max_grad_norm=0.8,
                vf_coef=0.58096,
                policy_kwargs=dict(log_std_init=-2, ortho_init=False, **_RELU_256),
            ),
            note=_older("HalfCheetah-v4"),
        ),
        ("a2c", "Hopper-v5"): dict(mujoco, kwargs={}, note=_older("Hopper-v4")),
        ("ppo", "Hopper-v5"): dict(
            n_envs=1,
            n_timesteps=1_000_000,
            normalize=True,
            kwargs=dict(
                batch_size=32,
                n_steps=512,
                gamma=0.999,
                learning_rate=9.80828e-05,
                ent_coef=0.00229519,
                clip_range=0.2,
                n_epochs=5,
                gae_lambda=0.99,
                max_grad_norm=0.7,
                vf_coef=0.835671,
                policy_kwargs=dict(log_std_init=-2, ortho_init=False, **_RELU_256),
            ),
            note=_older("Hopper-v4"),
        ),
        ("a2c", "Walker2d-v5"): dict(mujoco, kwargs={}, note=_older("Walker2d-v4")),
        ("ppo", "Walker2d-v5"): dict(
            n_envs=1,
            n_timesteps=1_000_000,
            normalize=True,
            kwargs=dict(
                batch_size=32,
                n_steps=512,
                gamma=0.99,
                learning_rate=5.05041e-05,
                ent_coef=0.000585045,
                clip_range=0.1,
                n_epochs=20,
                gae_lambda=0.95,
                max_grad_norm=1,
                vf_coef=0.871923,
            ),
            note=_older("Walker2d-v4"),
        ),
        ("a2c", "Ant-v5"): dict(mujoco, kwargs={}, note=_older("Ant-v4")),
        ("ppo", "Ant-v5"): dict(mujoco, kwargs={}, note=_older("Ant-v4") + ", untuned"),
        # --- toy text: the zoo has none -------------------------------------------------------
        **{
            (algo, env_id): dict(ZOO_DEFAULT, note=no_toy_text)
            for algo in ("a2c", "ppo")
            for env_id in ("Taxi-v4", "FrozenLake-v1", "FrozenLake8x8-v1", "CliffWalking-v1")
        },
    }


def zoo_hyperparameters(algo: str, env_id: str) -> dict[str, Any]:
    """(n_envs, n_timesteps, normalize, constructor kwargs, note) as the zoo gives them; an id
    the table does not hold gets the zoo's default entry, with a note saying so."""
    entry = _zoo_table().get((algo, env_id))
    if entry is None:
        return dict(ZOO_DEFAULT, note="not in the zoo: its default (SB3's defaults, 1M steps)")
    return dict(entry, kwargs=dict(entry["kwargs"]), note=entry.get("note", ""))


def sb3_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The constructor kwargs with ``policy_kwargs``' activation name turned into its class."""
    policy_kwargs = kwargs.get("policy_kwargs")
    if policy_kwargs is None or "activation_fn" not in policy_kwargs:
        return kwargs
    import torch

    activation = getattr(torch.nn, policy_kwargs["activation_fn"])
    return {**kwargs, "policy_kwargs": {**policy_kwargs, "activation_fn": activation}}


@dataclass
class SB3Run:
    """A trained SB3 model, its (possibly normalised) training env, and its training episodes in
    the order they finished: wall seconds since the ``learn`` call, global step, return."""

    model: Any
    env: Any
    times: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    solved: tuple[float, int] | None = None  # (seconds, step) the window mean first reached it
    wall_s: float = 0.0
    time_limited: bool = False  # stopped by ``time_limit_s`` before its budget ran out


def without_log_files(model: Any) -> Any:
    """``model`` with a logger that writes nothing. Left to itself, each ``learn`` of a quiet SB3
    model (``verbose=0``, no TensorBoard) makes an empty ``SB3-<date>`` folder in the temporary
    directory, one per run of a benchmark."""
    from stable_baselines3.common.logger import Logger

    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def train_sb3(
    algo: str,
    env_id: str,
    seed: int,
    total_timesteps: int | None = None,
    threshold: float | None = None,
    stop_at_threshold: bool = True,
    window: int = 100,
    time_limit_s: float | None = None,
) -> SB3Run:
    """Train ``algo`` ("a2c" or "ppo") with the zoo's hyper-parameters for ``total_timesteps``
    (default: the zoo's budget), reading every finished training episode (Monitor's) in a
    callback; with ``threshold``, note when the last-``window`` mean first reaches it, and stop
    there if ``stop_at_threshold``; with ``time_limit_s``, stop after that many seconds of
    training (``run.time_limited`` says so). Time counts from the ``learn`` call; there is no
    evaluation."""
    import time
    from collections import deque

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
    model = model_cls("MlpPolicy", env, seed=seed, verbose=0, **sb3_kwargs(hp["kwargs"]))
    without_log_files(model)
    run = SB3Run(model, env)
    recent: deque[float] = deque(maxlen=window)

    class ReadEpisodes(BaseCallback):
        def _on_step(self) -> bool:
            now = time.perf_counter() - start
            for info in self.locals["infos"]:
                if "episode" not in info:  # Monitor's record of an episode that just ended
                    continue
                ret = float(info["episode"]["r"])  # the env's own reward, before VecNormalize
                run.times.append(now)
                run.steps.append(int(self.model.num_timesteps))
                run.returns.append(ret)
                recent.append(ret)
                if (
                    run.solved is None
                    and threshold is not None
                    and len(recent) == window
                    and np.mean(recent) >= threshold
                ):
                    run.solved = (now, int(self.model.num_timesteps))
            out_of_time = time_limit_s is not None and now >= time_limit_s
            if out_of_time and self.model.num_timesteps < budget:
                run.time_limited = True
                return False
            return not (stop_at_threshold and run.solved is not None)

    budget = total_timesteps or hp["n_timesteps"]
    start = time.perf_counter()
    model.learn(total_timesteps=budget, callback=ReadEpisodes())
    run.wall_s = time.perf_counter() - start
    return run


def evaluate_sb3(run: SB3Run, env_id: str, n_episodes: int, seed: int) -> tuple[float, float]:
    """Mean and std of ``n_episodes`` deterministic episodes of the final policy, scored in the
    env's own rewards, on fresh envs whose observation normalisation is the training one, frozen
    (the zoo's evaluation: ``training=False, norm_reward=False``)."""
    import copy

    import numpy as np
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    eval_env = make_vec_env(env_id, n_envs=1, seed=seed)
    if isinstance(run.env, VecNormalize):
        eval_env = VecNormalize(eval_env, training=False, norm_reward=False)
        eval_env.obs_rms = copy.deepcopy(run.env.obs_rms)
    try:
        returns, _ = evaluate_policy(
            run.model,
            eval_env,
            n_eval_episodes=n_episodes,
            deterministic=True,
            return_episode_rewards=True,
        )
    finally:
        eval_env.close()
    return float(np.mean(returns)), float(np.std(returns))


def run_sb3(algo: str, env_id: str, seed: int, threshold: float) -> dict[str, Any]:
    """Train until the last-100 training-episode mean reaches ``threshold`` or the zoo's budget
    runs out (``benchmarks.time_to_solve``)."""
    run = train_sb3(algo, env_id, seed, threshold=threshold)
    return {
        "solved": run.solved is not None,
        "time_to_solve_s": None if run.solved is None else run.solved[0],
        "steps_to_solve": None if run.solved is None else run.solved[1],
        "wall_s": run.wall_s,
        "steps": int(run.model.num_timesteps),
    }
