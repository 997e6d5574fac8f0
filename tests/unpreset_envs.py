"""Standard tasks registered again under ids that match no preset.

To a3c these look like a user's own environment: the family defaults are tested on them, so that
a preset found by name cannot stand in for good defaults (issue #14). Import this module (or pass
it as ``env_module``) to register them; worker processes import it again by that name.
"""

import gymnasium as gym

PREFIX = "Unpreset-"
STANDARD_IDS = (
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "LunarLander-v3",
    "LunarLanderContinuous-v3",
    "InvertedPendulum-v5",
    "Taxi-v4",
)

for _standard in STANDARD_IDS:
    _spec = gym.spec(_standard)
    if PREFIX + _standard not in gym.registry:
        gym.register(
            PREFIX + _standard,
            entry_point=_spec.entry_point,
            max_episode_steps=_spec.max_episode_steps,
            reward_threshold=_spec.reward_threshold,
            kwargs=dict(_spec.kwargs),
        )


def unpreset(env_id: str) -> str:
    """The id under which the standard task ``env_id`` matches no preset."""
    assert env_id in STANDARD_IDS, env_id
    return PREFIX + env_id
