"""LifeLossTerminal on a scripted game: a lost life is terminal for learning, while every reward
of the game reaches the learner and the game's score is reported once (the real ALE version is in
test_atari.py)."""

import itertools
from types import SimpleNamespace

import gymnasium as gym
import numpy as np

from a3c.envs import EnvGroup, LifeLossTerminal

# Each game: (reward, lives after the step) for each step; a game ends when its lives reach 0.
GAMES = [
    # a life lost at step 2 and one at step 4, and the game ends on the step after the second
    [(1.0, 3), (2.0, 2), (4.0, 2), (8.0, 1), (16.0, 0)],
    # lost lives on two steps running, then a life's worth of play
    [(0.0, 3), (32.0, 2), (64.0, 1), (0.0, 1), (128.0, 0)],
]


class ScriptedGame(gym.Env):
    """Plays ``GAMES`` in turn whatever the actions; the observation is the number of steps taken
    so far (minus the number of resets on a reset), and ``unwrapped.ale.lives()`` follows the
    script, as ale-py's does."""

    observation_space = gym.spaces.Box(-1e6, 1e6, (1,), np.float32)
    action_space = gym.spaces.Discrete(3)

    def __init__(self) -> None:
        self.games = itertools.cycle(GAMES)
        self.script: list[tuple[float, int]] = []
        self.lives = 0
        self.t = 0
        self.steps = 0
        self.resets = 0
        self.actions: list[int] = []
        self.ale = SimpleNamespace(lives=lambda: self.lives)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.script, self.t, self.lives = next(self.games), 0, 3
        self.resets += 1
        return np.array([-self.resets], dtype=np.float32), {}

    def step(self, action):
        reward, self.lives = self.script[self.t]
        self.t += 1
        self.steps += 1
        self.actions.append(int(action))
        return np.array([self.steps], dtype=np.float32), reward, self.lives == 0, False, {}


def test_every_reward_of_the_game_reaches_the_learner_and_its_score_is_reported_once():
    """Issue 13: reset after a lost life used to step a no-op and drop its reward, and the score
    of a game that ended on that no-op."""
    games: list[ScriptedGame] = []

    def factory() -> gym.Env:  # as EnvFactory wraps an Atari game
        games.append(ScriptedGame())
        return LifeLossTerminal(gym.wrappers.RecordEpisodeStatistics(games[0]))

    group = EnvGroup(factory, 1, seed=0)  # type: ignore[arg-type]
    obs = group.reset()
    game = games[0]
    actions = [1, 2, 1, 2, 1, 2, 1, 2, 1, 2]  # no 0: any no-op would be the wrapper's
    rewards, terminated, finished, observed = [], [], [], [obs[0, 0]]
    for action in actions:
        step = group.step([action])
        rewards.append(float(step.rewards[0]))
        terminated.append(bool(step.terminated[0]))
        finished += step.finished
        observed.append(step.obs[0, 0])

    assert game.actions == actions  # the agent's own actions, and nothing else
    assert rewards == [r for script in GAMES for r, _ in script]
    # a lost life or the game's end; the last step of each game is terminal once, not twice
    assert terminated == [False, True, False, True, True, False, True, True, False, True]
    assert finished == [(31.0, 5), (224.0, 5)]  # each game's whole score, once
    assert game.resets == 3  # the first game, the second, and after the second
    # after a lost life the game goes on from the frame of that loss; after a game, anew
    np.testing.assert_array_equal(observed, [-1, 1, 2, 3, 4, -2, 6, 7, 8, 9, -3])


def test_a_seeded_or_mid_game_reset_restarts_the_game():
    game = ScriptedGame()
    env = LifeLossTerminal(game)
    env.reset(seed=0)
    env.step(1)
    env.reset()  # no life lost: a real reset
    assert game.resets == 2
    env.step(1)
    assert env.step(1)[2]  # a life lost
    env.reset(seed=1)
    assert game.resets == 3
