"""Small image environments for the frame preprocessing of environments that are not Atari."""

import gymnasium as gym
import numpy as np

SIZE = 32
STEPS = 16


class Dimmer(gym.Env):
    """A uniform 32x32 RGB frame at one of 4 brightness levels (30, 100, 170, 240); at each
    step the level goes one up or one down at random (reflected at the ends); the action says
    which way it went, rewarded 1 when right. One frame shows a level, not the change: a policy
    reading single frames knows it only at the two ends: 10.5 on average over the 16 steps; one
    that sees two frames stacked, 15.5 (the first step's stack holds the reset frame twice)."""

    observation_space = gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)
    LEVELS = 4

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.level = int(self.np_random.integers(self.LEVELS))
        self.went_up = bool(self.np_random.integers(2))  # nothing to see yet: a coin
        return self._frame(), {}

    def _frame(self):
        return np.full((SIZE, SIZE, 3), 30 + 70 * self.level, np.uint8)

    def step(self, action):
        reward = float(int(action) == int(self.went_up))
        self.t += 1
        self.went_up = bool(self.np_random.integers(2))
        if self.level == 0 or self.level == self.LEVELS - 1:
            self.went_up = self.level == 0
        self.level += 1 if self.went_up else -1
        return self._frame(), reward, False, self.t >= STEPS, {}


class Counter(gym.Env):
    """Every pixel of the frame (``size`` square, ``channels`` deep) is 10 x (the step count +
    1); the reward of step t is t; the episode terminates after step 5. Each frame is drawn into
    the same array, as some environments do."""

    action_space = gym.spaces.Discrete(2)

    def __init__(self, size=96, channels=3):
        self.frame = np.zeros((size, size, channels), np.uint8)
        self.observation_space = gym.spaces.Box(0, 255, self.frame.shape, np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._frame(), {}

    def _frame(self):
        self.frame[:] = 10 * (self.t + 1)
        return self.frame

    def step(self, action):
        self.t += 1
        return self._frame(), float(self.t), self.t >= 5, False, {}


class Brightness(gym.Env):
    """A uniform 24x24 RGB frame, dark (30) or bright (220) at random at each step; the action,
    a number in [-1, 1], should be -0.5 on a dark frame and 0.5 on a bright one, and is rewarded
    minus its distance from there; an episode is 8 steps. Uniformly random actions score -5 an
    episode on average (-0.625 a step), a policy that reads the frame 0. ``stacked``: the frame
    grey, twice, channels first (2 x 24 x 24), as stacked frames come (Atari's)."""

    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, stacked=False):
        self.shape = (2, 24, 24) if stacked else (24, 24, 3)
        self.observation_space = gym.spaces.Box(0, 255, self.shape, np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._frame(), {}

    def _frame(self):
        self.bright = bool(self.np_random.integers(2))
        return np.full(self.shape, 220 if self.bright else 30, np.uint8)

    def step(self, action):
        target = 0.5 if self.bright else -0.5
        reward = -abs(float(np.clip(action, -1.0, 1.0)[0]) - target)
        self.t += 1
        return self._frame(), reward, False, self.t >= 8, {}


gym.register("Dimmer-v0", entry_point=Dimmer)
