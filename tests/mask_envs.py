"""Environments that allow only some actions in each state and say which, in each of the places
a3c reads action masks from (a3c.masks). A disallowed action ends the episode with a reward of
-1; an allowed one is worth +1, for at most STEPS steps. Which actions are allowed is drawn
afresh each step and does not show in the observation: a policy that reads the mask scores
STEPS in every episode, from its first, and one that does not is soon stopped (a random one
picks an allowed action a quarter of the time)."""

from collections import OrderedDict

import gymnasium as gym
import numpy as np

STEPS = 20
N_ACTIONS = 8
ALLOWED = 2  # of the N_ACTIONS, in each state


class _Doors(gym.Env):
    """Discrete(8) actions, 2 of them allowed in each state; the observation is noise."""

    action_space = gym.spaces.Discrete(N_ACTIONS)
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)

    def _draw_mask(self):
        self.mask = np.zeros(N_ACTIONS, np.int8)
        self.mask[self.np_random.choice(N_ACTIONS, ALLOWED, replace=False)] = 1

    def _observe(self):
        return self.np_random.uniform(-1, 1, 3).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self._draw_mask()
        return self._observe(), {}

    def _allowed(self, action):
        return bool(self.mask[int(action)])

    def step(self, action):
        allowed = self._allowed(action)
        self.t += 1
        self._draw_mask()
        terminated = not allowed
        return self._observe(), 1.0 if allowed else -1.0, terminated, self.t >= STEPS, {}


class InfoDoors(_Doors):
    """The mask in ``info["action_mask"]``, as Gymnasium's Taxi gives it."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        return obs, {**info, "action_mask": self.mask.copy()}

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {**info, "action_mask": self.mask.copy()}


class MethodDoors(_Doors):
    """The mask from ``action_masks()``, as sb3-contrib's MaskablePPO reads it."""

    def action_masks(self):
        return self.mask.astype(bool)


class ObservedDoors(_Doors):
    """The mask as the ``"action_mask"`` part of a Dict observation (PettingZoo's way)."""

    observation_space = gym.spaces.Dict(
        OrderedDict(
            [
                ("noise", gym.spaces.Box(-1.0, 1.0, (3,), np.float32)),
                ("action_mask", gym.spaces.MultiBinary(N_ACTIONS)),
            ]
        )
    )

    def _observe(self):
        return OrderedDict([("noise", super()._observe()), ("action_mask", self.mask.copy())])


class MultiDoors(InfoDoors):
    """MultiDiscrete([3, 5]) actions, one value of each component allowed in each state; the
    mask is the components' side by side (8 values)."""

    action_space = gym.spaces.MultiDiscrete([3, 5])

    def _draw_mask(self):
        first = np.zeros(3, np.int8)
        second = np.zeros(5, np.int8)
        first[self.np_random.integers(3)] = 1
        second[self.np_random.integers(5)] = 1
        self.mask = np.concatenate([first, second])

    def _allowed(self, action):
        return bool(self.mask[int(action[0])]) and bool(self.mask[3 + int(action[1])])


class HybridDoors(InfoDoors):
    """A hybrid action: a door (8, two allowed), a light switch (MultiBinary, not masked), a gear
    (one of 3 allowed) and a push (a Box); the mask is the door's 8 values then the gear's 3. A
    disallowed door or gear ends the episode; the environment checks that each action is in its
    space."""

    action_space = gym.spaces.Dict(
        OrderedDict(
            door=gym.spaces.Discrete(N_ACTIONS),
            lights=gym.spaces.MultiBinary(2),
            gear=gym.spaces.MultiDiscrete([3]),
            push=gym.spaces.Box(-1.0, 1.0, (1,), np.float32),
        )
    )

    def _draw_mask(self):
        super()._draw_mask()
        gear = np.zeros(3, np.int8)
        gear[self.np_random.integers(3)] = 1
        self.mask = np.concatenate([self.mask, gear])

    def _allowed(self, action):
        assert self.action_space.contains(action), action
        door, gear = int(action["door"]), N_ACTIONS + int(action["gear"][0])
        return bool(self.mask[door]) and bool(self.mask[gear])


class GridInfoDoors(InfoDoors):
    """InfoDoors whose noise comes as a 2x3 grid."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2, 3), np.float32)

    def _observe(self):
        return self.np_random.uniform(-1, 1, (2, 3)).astype(np.float32)


class ShortMaskDoors(InfoDoors):
    """Its info's mask has 7 values for 8 actions."""

    def reset(self, *, seed=None, options=None):
        obs, _ = super().reset(seed=seed, options=options)
        return obs, {"action_mask": self.mask[:7]}


class ForgetfulDoors(InfoDoors):
    """Its steps give no mask from the fifth on (the episode going on)."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if self.t >= 5:
            info = {}
        return obs, reward, terminated, truncated, info


class CountedDoors(InfoDoors):
    """InfoDoors that counts how many of it were made."""

    made = 0

    def __init__(self):
        type(self).made += 1
