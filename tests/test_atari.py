"""Atari through ale-py: the preprocessing, clipped rewards for learning against unclipped scores,
lives, and short training runs of the CNN and CNN-LSTM agents on Pong (the CI smoke test)."""

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("ale_py")

from a3c import A3C, envs
from a3c.checkpoint import load_checkpoint, save_checkpoint
from a3c.envs import EnvFactory, EnvGroup
from a3c.evaluation import evaluate_policy
from a3c.plots import read_csv


@pytest.mark.parametrize("env_id", ["ALE/Pong-v5", "PongNoFrameskip-v4"])
def test_both_id_styles_give_stacked_84x84_grayscale_frames(env_id):
    env = EnvFactory(env_id)()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert env.observation_space.shape == (4, 84, 84) and env.action_space.n == 6
    assert env.unwrapped._frameskip == 1  # skipping is the wrapper's, with max-pooling
    sticky = env.unwrapped.spec.kwargs["repeat_action_probability"]
    assert sticky == (0.25 if env_id.startswith("ALE/") else 0.0)
    forced = EnvFactory(env_id, repeat_action_probability=0.0)()
    assert forced.unwrapped.spec.kwargs["repeat_action_probability"] == 0.0
    # the last stacked frame is the newest: stepping moves the stack along
    next_obs, *_ = env.step(0)
    np.testing.assert_array_equal(next_obs[:3], obs[1:])


def play(factory: EnvFactory, steps: int) -> tuple[list[float], list[tuple[float, int]]]:
    """Rewards and finished episodes of a fixed action sequence through an EnvGroup."""
    group = EnvGroup(factory, 1, seed=3)
    group.reset()
    actions = np.random.default_rng(0).integers(0, 6, steps)
    rewards, finished = [], []
    for a in actions:
        step = group.step([int(a)])
        rewards.append(float(step.rewards[0]))
        finished += step.finished
    group.close()
    return rewards, finished


def test_learning_sees_clipped_rewards_while_scores_are_unclipped():
    # Space Invaders pays 5 to 30 points per invader; 400 agent steps, then a time limit.
    raw = EnvFactory("ALE/SpaceInvaders-v5", max_episode_steps=400, clip_rewards=False)
    clipped = EnvFactory("ALE/SpaceInvaders-v5", max_episode_steps=400)
    raw_rewards, raw_games = play(raw, 400)
    clipped_rewards, clipped_games = play(clipped, 400)
    assert max(raw_rewards) > 1
    np.testing.assert_array_equal(clipped_rewards, np.sign(raw_rewards))
    assert raw_games == clipped_games == [(sum(raw_rewards), 400)]  # the score, unclipped


def test_a_lost_life_ends_the_learning_episode_but_not_the_game():
    factory = EnvFactory("ALE/Breakout-v5", terminal_on_life_loss=True)
    env = factory()
    env.reset(seed=0)
    ale = env.unwrapped.ale
    assert ale.lives() == 5
    rng = np.random.default_rng(0)
    for _ in range(5000):
        _, _, terminated, truncated, info = env.step(int(rng.integers(4)))
        if terminated or truncated:
            break
    assert terminated and ale.lives() == 4 and "episode" not in info
    env.reset()
    assert ale.lives() == 4  # the game went on
    assert not factory.for_evaluation().terminal_on_life_loss
    assert not factory.for_evaluation().clip_rewards


def test_with_lives_terminal_the_learner_sees_every_reward_of_the_game_it_is_scored_on():
    """A whole game of Breakout, random actions, each lost life terminal: the rewards the learner
    sees add up to the reported score, and its length is the agent's steps (issue 13: reset used
    to step a no-op after each lost life and drop its reward)."""
    group = EnvGroup(
        EnvFactory("ALE/Breakout-v5", terminal_on_life_loss=True, clip_rewards=False), 1, seed=17
    )
    group.reset()
    ale = group.envs[0].unwrapped.ale
    rng = np.random.default_rng(17)  # a game that scores (4 points)
    rewards, finished, lost = [], [], 0
    while not finished:
        lives = ale.lives()
        step = group.step([int(rng.integers(4))])
        rewards.append(float(step.rewards[0]))
        finished = step.finished
        if not finished:
            assert step.terminated[0] == (ale.lives() < lives)  # every lost life, and only those
            lost += ale.lives() < lives
        else:
            assert step.terminated[0] and ale.lives() == 5  # the game over, and a new game
    assert lost == 4
    assert sum(rewards) >= 2
    assert finished == [(sum(rewards), len(rewards))]
    group.close()


def test_unknown_atari_id_is_one_clear_error_and_names_the_extra_when_ale_py_is_missing(
    monkeypatch,
):
    with pytest.raises(ValueError, match="unknown environment 'ALE/NoSuchGame-v5'") as error:
        EnvFactory("ALE/NoSuchGame-v5")()
    assert "pip install" not in str(error.value)  # ale-py is here: the id is wrong
    monkeypatch.setattr(envs, "ale_py_installed", lambda: False)
    with pytest.raises(ValueError, match=r'pip install "a3c\[atari\]"'):
        EnvFactory("ALE/NoSuchGame-v5")()


@pytest.mark.parametrize(
    "preset, body, frame",
    [("PongNoFrameskip-v4", "cnn", 84), ("PongNoFrameskip-v4.lstm", "elu_cnn", 42)],
    ids=["cnn", "cnn-lstm"],
)
def test_pong_smoke_training(tmp_path, preset, body, frame):
    """A short run of each Pong preset: the CNN (and CNN-LSTM) agent trains on 2 workers,
    evaluates whole games with unclipped scores, checkpoints, and acts from raw frames."""
    lstm = preset.endswith(".lstm")
    agent = A3C(
        "PongNoFrameskip-v4",
        preset=preset,
        envs_per_worker=2,
        total_steps=3_000,
        eval_interval=1_500,
        eval_episodes=1,
        checkpoint_interval=0,
        progress=False,
        tensorboard=False,
        run_dir=str(tmp_path),
    )
    assert agent.model.body == body and agent.model.is_recurrent == lstm
    assert agent.observation_space.shape == (4, frame, frame)
    agent.learn()
    assert agent.summary.global_step >= 3_000
    evals = read_csv(agent.run_dir / "eval.csv")
    assert len(evals["mean_return"]) >= 1
    assert -21 <= evals["mean_return"][0] <= 21 and evals["mean_length"][0] > 100  # a whole game
    loaded = A3C.load(agent.run_dir / "checkpoints" / "final.pt")
    obs, _ = agent.env.reset(seed=0)
    action, state = loaded.predict(obs, deterministic=True)
    assert 0 <= int(action) < 6 and (state is not None) == lstm
    mean, _ = evaluate_policy(loaded, n_episodes=1)
    assert -21 <= mean <= 21


@pytest.mark.parametrize(
    "env_id, needs",
    [
        ("ALE/Breakout-v5", True),
        ("BreakoutNoFrameskip-v4", True),
        ("ALE/Pong-v5", False),
        ("ALE/SpaceInvaders-v5", False),
        ("ALE/Qbert-v5", False),
    ],
)
def test_the_games_that_stand_still_without_fire_are_found_on_the_rom(env_id, needs):
    assert envs.stands_still_without_fire(env_id) is needs


def noop_game(factory: EnvFactory, limit: int) -> tuple[int, list[int], bool]:
    """Play NOOPs from a reset for at most ``limit`` steps: (steps, lives seen, game ended)."""
    env = factory()
    env.reset(seed=0)
    ale = env.unwrapped.ale
    lives = [ale.lives()]
    for step in range(1, limit + 1):
        _, _, terminated, truncated, _ = env.step(0)
        if ale.lives() != lives[-1]:
            lives.append(ale.lives())
        if terminated or truncated:
            return step, lives, True
    return limit, lives, False


def test_breakout_fires_at_reset_and_after_each_lost_life():
    quiet = dict(repeat_action_probability=0.0, frame_stack=1, noop_max=0)
    # Without FIRE a player who never fires waits forever: no ball, no lost life.
    steps, lives, ended = noop_game(EnvFactory("ALE/Breakout-v5", fire_reset=False, **quiet), 500)
    assert not ended and lives == [5]
    # With it (the default for Breakout), the ball comes at once and again after every lost
    # life, so the same player loses its five lives and the game ends.
    steps, lives, ended = noop_game(EnvFactory("ALE/Breakout-v5", **quiet), 5_000)
    assert ended and lives == [5, 4, 3, 2, 1, 0] and steps < 2_000


def test_with_life_loss_terminal_the_fire_comes_with_the_next_reset():
    factory = EnvFactory(
        "ALE/Breakout-v5", terminal_on_life_loss=True, repeat_action_probability=0.0, noop_max=0
    )
    env = factory()
    env.reset(seed=0)
    ale = env.unwrapped.ale
    for expected_lives in (4, 3):  # each episode ends at a lost life; the reset relaunches
        for _ in range(1_000):
            _, _, terminated, _, _ = env.step(0)
            if terminated:
                break
        assert terminated and ale.lives() == expected_lives
        env.reset()


def test_games_that_start_by_themselves_are_left_alone():
    quiet = dict(repeat_action_probability=0.0, noop_max=0)
    auto, off = (
        EnvFactory("ALE/Pong-v5", **quiet)(),
        EnvFactory("ALE/Pong-v5", fire_reset=False, **quiet)(),
    )
    a, _ = auto.reset(seed=3)
    b, _ = off.reset(seed=3)
    np.testing.assert_array_equal(a, b)
    for action in [0, 2, 3, 1] * 10:
        np.testing.assert_array_equal(auto.step(action)[0], off.step(action)[0])


def test_a_game_in_continuous_mode_takes_the_wrappers_buttons_and_the_agents_arrays():
    # ale-py's continuous=True takes only float32 (radius, angle, fire) arrays; Gymnasium's no-op
    # starts press NOOP by index (0), FireReset FIRE (1): both reach the game as the joystick.
    factory = EnvFactory(
        "ALE/Breakout-v5", env_kwargs={"continuous": True}, repeat_action_probability=0.0
    )
    env = factory()
    assert isinstance(env.action_space, gym.spaces.Box) and env.action_space.shape == (3,)
    env.reset(seed=0)  # up to 30 no-op starts, then FIRE
    ale = env.unwrapped.ale
    at_rest = np.zeros(3)  # float64, as an agent may send it
    lives = [ale.lives()]
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated) and steps < 2_000:
        _, _, terminated, truncated, _ = env.step(at_rest)
        lives += [ale.lives()] if ale.lives() != lives[-1] else []
        steps += 1
    # Launched at the reset and after each lost life, as the discrete game is: a player at rest
    # loses its five lives and the game ends.
    assert terminated and lives == [5, 4, 3, 2, 1, 0] and steps < 2_000
    # The joystick pushed right moves the paddle right: the middle of its pixels in its row (190),
    # between the walls (8 pixels wide each).
    env.reset(seed=0)
    paddle = lambda: 8 + np.flatnonzero(ale.getScreenGrayscale()[190, 8:-8]).mean()  # noqa: E731
    before = paddle()
    for _ in range(10):
        env.step(np.array([1.0, 0.0, 0.0], np.float32))
    assert paddle() > before + 10


@pytest.mark.parametrize("env_id", ["ALE/Breakout-v5", "BreakoutNoFrameskip-v4"])
def test_a_game_observed_through_its_ram_plays_as_its_frames_do(env_id):
    # Gymnasium's AtariPreprocessing reads the screen whatever the observation: with
    # obs_type="ram" the first reset failed. The RAM gets the same no-op starts, frame skip,
    # FIRE and rewards, step for step, and its 128 bytes come unstacked.
    quiet = dict(repeat_action_probability=0.0)
    ram = EnvFactory(env_id, env_kwargs={"obs_type": "ram"}, **quiet)()
    frames = EnvFactory(env_id, **quiet)()
    assert ram.observation_space == gym.spaces.Box(0, 255, (128,), np.uint8)
    starts = set()
    for seed in range(4):
        obs, _ = ram.reset(seed=seed)
        frames.reset(seed=seed)
        ram_ale, frames_ale = ram.unwrapped.ale, frames.unwrapped.ale
        starts.add(ram_ale.getEpisodeFrameNumber())
        assert ram_ale.getEpisodeFrameNumber() == frames_ale.getEpisodeFrameNumber()
        np.testing.assert_array_equal(obs, frames_ale.getRAM())
        for action in np.random.default_rng(seed).integers(0, 4, 400):
            obs, reward, terminated, truncated, _ = ram.step(int(action))
            _, frames_reward, frames_terminated, frames_truncated, _ = frames.step(int(action))
            np.testing.assert_array_equal(obs, frames_ale.getRAM())
            assert reward == frames_reward
            assert (terminated, truncated) == (frames_terminated, frames_truncated)
            assert ram_ale.getEpisodeFrameNumber() == frames_ale.getEpisodeFrameNumber()
            if terminated or truncated:
                break
        assert ram_ale.lives() < 5  # the 400 steps lost lives, so FIRE came after them too
    ram.reset(seed=0)
    start = ram_ale.getEpisodeFrameNumber()
    ram.step(0)
    assert ram_ale.getEpisodeFrameNumber() == start + 4  # the frame skip's 4 frames
    assert len(starts) > 1  # the no-op starts differ from seed to seed


def test_ale_pys_frameskip_keyword_is_refused_with_the_option_that_sets_it():
    # The preprocessing skips frames with max-pooling, so the game steps one frame at a time:
    # the user's frameskip used to be replaced by 1 without a word, and the run skipped 4.
    with pytest.raises(ValueError, match=r"use --frame-skip N \(frame_skip in a preset"):
        EnvFactory("ALE/Pong-v5", env_kwargs={"frameskip": 2})()
    env = EnvFactory("ALE/Pong-v5", env_kwargs={"frameskip": 1})()  # as it is stepped anyway
    assert env.unwrapped._frameskip == 1


def test_a_run_saved_with_the_frameskip_keyword_that_was_overridden_still_loads(tmp_path):
    agent = A3C("ALE/Pong-v5", env_kwargs={"mode": 1}, progress=False)
    path = agent.save(tmp_path / "old.pt")
    data = load_checkpoint(path)
    data["config"]["env_kwargs"]["frameskip"] = 4  # as a run of before 2026-12-07 saved it
    save_checkpoint(data, path)
    loaded = A3C.load(path)  # the game stepped one frame at a time then too
    assert loaded.config.env_kwargs == {"mode": 1}
    assert loaded.env_factory().unwrapped._frameskip == 1
