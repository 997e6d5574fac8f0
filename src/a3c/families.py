"""Defaults by environment family: what a run gets on an environment that has no preset.

A family is an entry of :data:`FAMILIES`, chosen from the environment's spaces by
:func:`family_of`. Each entry's settings were chosen by measurement across the family's standard
tasks, not per environment (the suite's ``a3c-defaults`` rows in ``benchmarks/RESULTS.md``, and
``docs/environments.md``); a preset, when there is one, replaces them all (presets are complete
on top of the :class:`~a3c.Config` defaults).
Precedence: ``Config`` defaults < family defaults (no preset) < preset < explicit options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from a3c.frames import single_frames
from a3c.networks import takes_frames
from a3c.spaces import leaves


@dataclass(frozen=True)
class Family:
    """A kind of environment and the settings it gets when it has no preset."""

    description: str
    settings: dict[str, Any]


_DISCRETE = dict(
    # Separate actor and critic: a shared trunk alone keeps Acrobot from learning.
    shared_trunk=False,
    workers=2,
    envs_per_worker=8,  # batched inference; 40-step updates instead of 5-step ones
    n_steps=5,
    gamma=0.995,  # LunarLander's long horizon (0.99: best last-100 mean 146 in 1M)
    lr=7e-4,
    ent_coef=0.0,
    # The MountainCars need both; Acrobot needs the reward scaled once its observations are.
    normalize_obs=True,
    normalize_reward=True,
)

_IMAGE = dict(
    # The paper's Atari setup as the Pong presets measured it, without their step budget.
    workers=2,
    envs_per_worker=8,
    n_steps=5,
    gamma=0.99,
    optimizer="rmsprop_tf",
    lr=7e-4,
    ent_coef=0.01,
    vf_coef=1.0,
    max_grad_norm=0.5,
    # The Atari presets' cadence. The Config's (10 whole games every 25k steps) is sized
    # for vector tasks: on frames the evaluator's CNN competes with the workers for the
    # cores (ALE/Seaquest-v5's 1M steps, seed 0: 829 s against 589 s with this one).
    eval_interval=250_000,
    eval_episodes=5,
    # Sampled, as RL-Zoo evaluates Atari: a partly trained policy played greedily often
    # repeats one losing route. Its final policy after 1M steps (ALE v5, seed 0, 10 games)
    # greedy against sampled: Alien 90 (std 0) / 291, Boxing -31.5 / 2.4, MsPacman 310 /
    # 483, Asterix 420 / 380. The presets keep greedy: the references they meet are.
    eval_deterministic=False,
)

# Single frames as an environment renders them (not an Atari game's, which a3c preprocesses
# already) get Atari's preprocessing (a3c.frames), with each action held for 4 frames, and their
# rewards normalised. Measured on the two such environments tried (seed 0, docs/status.md): read
# raw (one 96x96 RGB frame, no skip), CarRacing-v3 did not learn in 212k steps; its discrete
# actions reached 752 in 250k steps held for 8 (2M frames, 2.1 h: the CarRacing-v3.discrete
# preset), and 519 in 150k held for 4 (0.6M frames, 40 min), ahead of 8 at every frame count
# measured. MiniWorld's OneRoom reached its box in 90% of episodes within 300k steps held for
# 4, 60% held for 8 (twice the decisions within its time limit, which counts frames). Unclipped
# rewards (CarRacing's -100 off the map) would leave the critic's loss to outweigh the policy's.
_SINGLE_FRAMES = dict(
    preprocess_frames="grayscale",
    frame_skip=4,
    frame_stack=4,
    screen_size=84,
    normalize_reward=True,
)

_IMAGE_CONTINUOUS = dict(
    _IMAGE,
    # A Gaussian, not a categorical: with the image family's bonus of 0.01 nothing holds
    # its noise back, since RMSprop steps by about the lr whatever the gradient's scale
    # (ale-py's continuous Breakout: the entropy from 4.3 to 7.8 in 250k steps as the
    # games got worse; CarRacing's std from 1.0 to 3.3). Without one, and with the
    # continuous family's Gaussian, the noise stays put and Breakout and Space Invaders
    # learn (docs/environments.md). Hybrids with a Box part come here too: unmeasured.
    # Sampled evaluation, as the image family's: a greedy mean can sit below the
    # joystick's thresholds in ale-py's continuous mode and never move or fire.
    ent_coef=0.0,
    gaussian_mean="linear",
    init_log_std=-0.5,
)


FAMILIES: dict[str, Family] = {
    "discrete": Family("discrete actions on vector observations", _DISCRETE),
    "tabular": Family(
        "discrete actions on discrete observations, finitely many states: toy text",
        dict(
            _DISCRETE,
            # Taxi's -10 for a wrong pickup or drop-off teaches a policy without an entropy bonus
            # never to try one: it walks about until the time limit (-200). With 0.05, annealed
            # to 0 over the run (the lr stays constant) so that the late policy is greedy enough
            # to score, it delivers (last-100 means above 8); FrozenLake and CliffWalking learn
            # either way.
            ent_coef=0.05,
            ent_schedule="linear",
        ),
    ),
    "continuous": Family(
        "continuous (Box) actions on vector observations",
        dict(
            shared_trunk=False,
            workers=2,
            # 64-sample updates, twice as many as 8 envs give: a learned noise shrinks by about
            # the lr per update, and MountainCarContinuous's training episodes pay for it (90 on
            # 17 seeds of 20 within 200k, scores near 93; 8 envs: 13 of 20, near 90). Hopper and
            # Reacher score higher too, and HalfCheetah passes its bar (docs/tuning.md).
            envs_per_worker=4,
            n_steps=16,  # the MuJoCo presets'; 8 with gamma 0.98: MountainCarContinuous -3 in 200k
            # The MuJoCo presets' horizon. MountainCarContinuous needs it (0.98 with GAE 0.92:
            # 1 seed of 3); Pendulum, whose preset has 0.95, still reaches -200 with reward
            # normalisation; HalfCheetah, whose preset has 0.98, reaches its bar with 4 envs.
            gamma=0.99,
            gae_lambda=0.95,
            optimizer="adam",
            lr=1e-3,
            # Annealed to 0 over the run's total_steps: what was learned stays learned (Hopper
            # and InvertedDoublePendulum peak and fall back with 1e-3 held constant).
            lr_schedule="linear",
            # A small entropy bonus keeps the noise from collapsing onto an early gait: without
            # it Hopper levelled off near 380 on 2 seeds of 3; with 0.002 it passed 733 on 4 of
            # 4. 0.01 passed too, lower, and left Reacher and InvertedDoublePendulum too noisy
            # for their bars. Held constant it cost LunarLanderContinuous (best last-100 means
            # 184 / 193 / 90); annealed with the lr, the late policy is precise again (258 /
            # 272 / 259) and Hopper keeps its gait (docs/tuning.md).
            ent_coef=0.002,
            ent_schedule="linear",
            normalize_obs=True,
            normalize_reward=True,
            gaussian_mean="linear",
            init_log_std=-0.5,
        ),
    ),
    "image": Family(
        "discrete actions on image observations (uint8 frames, stacked as Atari's are)", _IMAGE
    ),
    "image_continuous": Family(
        "continuous (Box) actions on image observations (stacked frames)", _IMAGE_CONTINUOUS
    ),
    "frames": Family(
        "discrete actions on single frames as an environment renders them (not Atari's)",
        dict(_IMAGE, **_SINGLE_FRAMES),
    ),
    "frames_continuous": Family(
        "continuous (Box) actions on single frames as an environment renders them",
        dict(
            _IMAGE_CONTINUOUS,
            **_SINGLE_FRAMES,
            # The mean inside the bounds: CarRacing's linear one ran past them (gas at 1, the
            # steering from -1 to 0.73 and back, the same on every frame), where every sample
            # is one action and nothing is learned: -83 to -76 over 100k steps. Within them
            # the steering came to follow the track by 75k, and the episodes rose to 12 by
            # 120k; then the mean saturated, one steering on every frame, and they fell to -68
            # (seed 0, each action held for 8 frames then). Held for 4: 121 over 150k-160k,
            # then -72 by 210k, the steering at -1 (docs/status.md). Not yet a policy that
            # keeps driving; a Beta and gSDE did worse.
            gaussian_mean="tanh",
        ),
    ),
}


def family_of(observation_space: gym.Space, action_space: gym.Space) -> str:
    """The family of an environment with these spaces (a key of :data:`FAMILIES`)."""
    # A Tuple or Dict of actions (a hybrid) is continuous if any part is a Box.
    discrete = gym.spaces.Discrete | gym.spaces.MultiDiscrete | gym.spaces.MultiBinary
    discrete_actions = all(isinstance(part, discrete) for part in leaves(action_space))
    if takes_frames(tuple(observation_space.shape or ()), observation_space.dtype):
        kind = "frames" if single_frames(observation_space) else "image"
        return kind if discrete_actions else f"{kind}_continuous"
    if discrete_actions:
        return "tabular" if finite_states(observation_space) else "discrete"
    return "continuous"


def finite_states(space: gym.Space) -> bool:
    """Whether an observation of ``space`` is one of finitely many states: a ``Discrete`` or
    ``MultiDiscrete`` space, or a ``Tuple``/``Dict`` of those (Blackjack's)."""
    finite = gym.spaces.Discrete | gym.spaces.MultiDiscrete
    return all(isinstance(leaf, finite) for leaf in leaves(space))


def describe(family: str) -> str:
    """One line: the family and the settings it gives."""
    settings = ", ".join(f"{k}={v}" for k, v in FAMILIES[family].settings.items())
    return f"{family} ({FAMILIES[family].description}): {settings}"
