"""Small environments with the spaces a3c takes beyond Box and Discrete, each with a rule a
policy can learn only by reading every part of its observation and acting in every component.
Each episode is 16 steps; a random policy and a perfect one score as their docstrings say."""

from collections import OrderedDict
from types import MappingProxyType

import gymnasium as gym
import numpy as np

STEPS = 16


class _Episodic(gym.Env):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.obs = self._observe()
        return self.obs, {}

    def step(self, action):
        reward = self._reward(action)
        self.t += 1
        self.obs = self._observe()
        return self.obs, reward, False, self.t >= STEPS, {}


class MultiBinaryMatch(_Episodic):
    """Set bit i when observation i is positive; reward: the fraction right (random 8, best 16)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.MultiBinary(3)

    def _observe(self):
        return self.np_random.uniform(-1, 1, 3).astype(np.float32)

    def _reward(self, action):
        return float(np.mean(np.asarray(action) == (self.obs > 0)))


class MultiBinaryGrid(MultiBinaryMatch):
    """The same with the bits laid out as a 2x2 grid (``MultiBinary((2, 2))``): bit (i, j) set
    when observation 2i + j is positive (random 8, best 16)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.MultiBinary((2, 2))

    def _observe(self):
        return self.np_random.uniform(-1, 1, 4).astype(np.float32)

    def _reward(self, action):
        assert np.shape(action) == (2, 2), action  # as the space has it, not flat
        return float(np.mean(np.asarray(action).reshape(-1) == (self.obs > 0)))


class MatrixTarget(_Episodic):
    """Box actions of shape (2, 2), each entry with bounds of its own; reward: minus the squared
    distance to the observed target (laid out the same)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2, 2), np.float32)
    action_space = gym.spaces.Box(
        np.array([[-1, -2], [-3, -4]], np.float32), np.array([[1, 2], [3, 4]], np.float32)
    )

    def _observe(self):
        return self.np_random.uniform(-1, 1, (2, 2)).astype(np.float32)

    def _reward(self, action):
        assert self.action_space.contains(np.asarray(action, np.float32)), action
        return -float(np.sum((np.asarray(action) - self.obs) ** 2))


class MultiDiscreteMatch(_Episodic):
    """Pick, per component, the third of [-1, 1] the observation lies in, with MultiDiscrete's
    start offset; reward: the fraction right (random 5.3, best 16)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.MultiDiscrete([3, 3], start=[10, -1])

    def _observe(self):
        return self.np_random.uniform(-1, 1, 2).astype(np.float32)

    def _reward(self, action):
        target = np.digitize(self.obs, [-1 / 3, 1 / 3]) + self.action_space.start
        return float(np.mean(np.asarray(action) == target))


class DictCue(_Episodic):
    """Dict observation: a 24x24 RGB image (bright or dark), a cue (Discrete(3), one-hot) and
    noise; the right action is cue + 3 * bright, one of six, so both the CNN and the MLP must
    read their part: the six (cue, brightness) pairs each have their own action (random 2.7,
    best 16). The keys are deliberately not sorted (an OrderedDict)."""

    observation_space = gym.spaces.Dict(
        OrderedDict(
            cue=gym.spaces.Discrete(3),
            image=gym.spaces.Box(0, 255, (24, 24, 3), np.uint8),
            noise=gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
        )
    )
    action_space = gym.spaces.Discrete(6)

    def _observe(self):
        self.cue = int(self.np_random.integers(3))
        self.bright = int(self.np_random.integers(2))
        image = np.full((24, 24, 3), 200 if self.bright else 20, np.uint8)
        noise = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return OrderedDict(cue=self.cue, image=image, noise=noise)

    def _reward(self, action):
        return float(int(action) == self.cue + 3 * self.bright)


class TupleDiscreteCue(_Episodic):
    """Tuple(Discrete(4), Box(1)) observation; the right action is the Discrete part (random 4,
    best 16)."""

    observation_space = gym.spaces.Tuple(
        (gym.spaces.Discrete(4), gym.spaces.Box(-1.0, 1.0, (1,), np.float32))
    )
    action_space = gym.spaces.Discrete(4)

    def _observe(self):
        self.cue = int(self.np_random.integers(4))
        return (self.cue, self.np_random.uniform(-1, 1, 1).astype(np.float32))

    def _reward(self, action):
        return float(int(action) == self.cue)


class DiscreteCue(_Episodic):
    """A Discrete(5) observation (one-hot for the network); the right action is it (random 3.2,
    best 16)."""

    observation_space = gym.spaces.Discrete(5)
    action_space = gym.spaces.Discrete(5)

    def _observe(self):
        self.cue = int(self.np_random.integers(5))
        return self.cue

    def _reward(self, action):
        return float(int(action) == self.cue)


class CuedMove(_Episodic):
    """A hybrid action, ``Tuple(Discrete(3), Box(-1, 1, (1,)))``: a move and its force. The
    observation is a cue (one of three, one-hot); the right move is the cue's and the right
    force the cue's target (-0.6, 0 or 0.6). Reward per step: 1 for the right move, minus the
    force's miss (random play about 0.33 - 0.6 a step: -4.3; best 16)."""

    observation_space = gym.spaces.Box(0.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Tuple(
        (gym.spaces.Discrete(3), gym.spaces.Box(-1.0, 1.0, (1,), np.float32))
    )
    targets = (-0.6, 0.0, 0.6)

    def _observe(self):
        self.cue = int(self.np_random.integers(3))
        return np.eye(3, dtype=np.float32)[self.cue]

    def _reward(self, action):
        assert self.action_space.contains(action), action  # a tuple, as the space has it
        move, force = action
        return float(move == self.cue) - abs(float(force[0]) - self.targets[self.cue])


class NestedHybrid(_Episodic):
    """Every kind of action leaf in a nested Dict: the environment checks that each action is
    in its space and pays for the Discrete part's being 3 (with its start of 2)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Dict(
        OrderedDict(
            move=gym.spaces.Tuple(
                (
                    gym.spaces.Discrete(3, start=2),
                    gym.spaces.Box(np.array([-1, 0], np.float32), np.array([1, 5], np.float32)),
                )
            ),
            switches=gym.spaces.MultiBinary((2, 2)),
            gears=gym.spaces.MultiDiscrete([2, 4], start=[1, -2]),
        )
    )

    def _observe(self):
        return self.np_random.uniform(-1, 1, 2).astype(np.float32)

    def _reward(self, action):
        assert self.action_space.contains(action), action
        return float(action["move"][0] == 3)


class UnboundedTarget(_Episodic):
    """Box actions with no bounds: act the observed target (two numbers in [-3, 3]); reward: minus
    the mean squared miss (random play with std 0.6 about 0: about -55, best 0). A mean squashed
    into [-1, 1] could not reach most targets."""

    observation_space = gym.spaces.Box(-3.0, 3.0, (2,), np.float32)
    action_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)

    def _observe(self):
        return self.np_random.uniform(-3, 3, 2).astype(np.float32)

    def _reward(self, action):
        return -float(np.mean((np.asarray(action, dtype=np.float64) - self.obs) ** 2))


class Words(gym.spaces.Space):
    """Strings, as MiniGrid's ``MissionSpace``: a space of another package's making that
    Gymnasium cannot flatten."""

    def __init__(self):
        super().__init__(dtype=str)

    def contains(self, x):
        return isinstance(x, str)


class MissionCue(_Episodic):
    """MiniGrid's kind of Dict observation: a cue (Discrete(4)) and a ``mission`` in words that
    says nothing of it; the right action is the cue (random 4, best 16)."""

    observation_space = gym.spaces.Dict(OrderedDict(cue=gym.spaces.Discrete(4), mission=Words()))
    action_space = gym.spaces.Discrete(4)

    def _observe(self):
        self.cue = int(self.np_random.integers(4))
        return OrderedDict(cue=self.cue, mission="act the cue")

    def _reward(self, action):
        return float(int(action) == self.cue)


class TextMissionCue(MissionCue):
    """The mission as Gymnasium's own ``Text`` space."""

    observation_space = gym.spaces.Dict(
        OrderedDict(cue=gym.spaces.Discrete(4), mission=gym.spaces.Text(32))
    )


class TupleWithWords(MissionCue):
    """The same parts in a Tuple: read as words, refused by ``words="left-out"`` (which leaves
    parts out of a Dict only)."""

    observation_space = gym.spaces.Tuple((gym.spaces.Discrete(4), Words()))

    def _observe(self):
        self.cue = int(self.np_random.integers(4))
        return (self.cue, "act the cue")


COLOURS = ("red", "green", "blue", "purple")
PHRASES = ("pick the {} one", "the {} one, please", "Go for {}!", "{} is right")


class WordCue(_Episodic):
    """The cue in words only, phrased four ways ("pick the red one", "Go for red!"): the right
    action is the colour's index among four. A policy that cannot read words scores 4 (random),
    one that can 16. A Dict with noise beside the words, keys not sorted."""

    observation_space = gym.spaces.Dict(
        OrderedDict(mission=Words(), noise=gym.spaces.Box(-1.0, 1.0, (2,), np.float32))
    )
    action_space = gym.spaces.Discrete(4)

    def _observe(self):
        self.cue = int(self.np_random.integers(4))
        phrase = PHRASES[int(self.np_random.integers(len(PHRASES)))]
        noise = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return OrderedDict(mission=phrase.format(COLOURS[self.cue]), noise=noise)

    def _reward(self, action):
        return float(int(action) == self.cue)


class NamedSlot(_Episodic):
    """The mission names a colour ("pick the red one"), the ``slots`` say where each colour is
    (one-hot rows, shuffled each time); the right action is the named colour's slot. Neither
    part alone scores more than random play's 4 (of 16): the words must select what the slots
    are read for, as a BabyAI mission selects a door in the picture."""

    observation_space = gym.spaces.Dict(
        OrderedDict(mission=Words(), slots=gym.spaces.Box(0.0, 1.0, (4, 4), np.float32))
    )
    action_space = gym.spaces.Discrete(4)

    def _observe(self):
        colour = int(self.np_random.integers(4))
        order = self.np_random.permutation(4)  # slot i holds colour order[i]
        self.cue = int(np.flatnonzero(order == colour)[0])
        phrase = PHRASES[int(self.np_random.integers(len(PHRASES)))]
        slots = np.eye(4, dtype=np.float32)[order]
        return OrderedDict(mission=phrase.format(COLOURS[colour]), slots=slots)

    def _reward(self, action):
        return float(int(action) == self.cue)


class TextCue(WordCue):
    """The whole observation in words (Gymnasium's ``Text``): the same task."""

    observation_space = gym.spaces.Text(32, charset="abcdefghijklmnopqrstuvwxyzG ,!")

    def _observe(self):
        return super()._observe()["mission"]


gym.register("WordCue-v0", entry_point=WordCue)


class Numbers(gym.spaces.Space):
    """Another package's space of numbers that is none of Gymnasium's: not words."""

    def __init__(self):
        super().__init__(shape=(2,), dtype=np.float32)

    def sample(self, mask=None, probability=None):
        return np.zeros(2, np.float32)

    def contains(self, x):
        return np.shape(x) == (2,)


class ForeignNumbers(MissionCue):
    observation_space = gym.spaces.Dict(OrderedDict(cue=gym.spaces.Discrete(4), other=Numbers()))

    def _observe(self):
        self.cue = int(self.np_random.integers(4))
        return OrderedDict(cue=self.cue, other=np.zeros(2, np.float32))


class RewardArray(DiscreteCue):
    """A reward returned as an array of one element (``np.array([r])``), as a reward computed
    with array operations easily is."""

    def _reward(self, action):
        return np.array([super()._reward(action)], np.float32)


class TwoRewards(DiscreteCue):
    """Two rewards a step: no scalar to learn from."""

    def _reward(self, action):
        return np.array([1.0, 0.0])


class OldStep(DiscreteCue):
    """Written for gym's API before 0.26: ``step`` returns ``(obs, reward, done, info)``."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated or truncated, info


class OldReset(DiscreteCue):
    """Written for gym's API before 0.26: ``reset`` returns the observation alone."""

    def reset(self, *, seed=None, options=None):
        return super().reset(seed=seed)[0]


class NoSeed(DiscreteCue):
    """Written for gym's API before 0.26: ``reset`` takes no seed."""

    def reset(self):
        return super().reset()


class ShortObservation(DiscreteCue):
    """Observations of 3 numbers where its space says 4."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

    def _observe(self):
        super()._observe()
        return np.zeros(3, np.float32)


class DictWithoutKey(MissionCue):
    """A Dict observation without one of its space's keys."""

    def _observe(self):
        return OrderedDict(cue=0)


class IntActionsOnly(DiscreteCue):
    """Takes its actions as Python ints only, as the workers give them (not numpy's)."""

    def step(self, action):
        assert type(action) is int, type(action)
        return super().step(action)


class MappingCue(DiscreteCue):
    """A Dict observation as a read-only mapping (``MappingProxyType``), not a dict."""

    observation_space = gym.spaces.Dict(OrderedDict(cue=gym.spaces.Discrete(5)))

    def _observe(self):
        return MappingProxyType({"cue": super()._observe()})


class SeedBug(DiscreteCue):
    """A reset whose own bug is a TypeError about a seed: not an old API."""

    def reset(self, *, seed=None, options=None):
        return self._seed_everything(seed)

    def _seed_everything(self):
        pass
