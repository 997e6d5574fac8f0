"""A package of the kind of MiniGrid's: importing it registers its environment id
(``RegisteredOnImport-v0``, CartPole under another name). Only a test imports it, through
:data:`a3c.envs.REGISTERING_PACKAGES`."""

import gymnasium as gym

ENV_ID = "RegisteredOnImport-v0"

if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point="gymnasium.envs.classic_control:CartPoleEnv")
