"""Frame preprocessing for image environments that are not Atari (a3c.frames)."""

import importlib.util
from pathlib import Path

import frame_envs
import gymnasium as gym
import numpy as np
import pytest
from helpers import a3c

from a3c import A3C, evaluate_policy
from a3c.envs import EnvFactory, make_env_group
from a3c.frames import RepeatAction, preprocess_frames

TESTS = Path(__file__).parent
needs_opencv = pytest.mark.skipif(
    importlib.util.find_spec("cv2") is None, reason="resizing needs OpenCV (the images extra)"
)


def _levels(stack: np.ndarray) -> list[int]:
    """The value of each uniform frame of a channels-first stack."""
    assert all(np.all(frame == frame.flat[0]) for frame in stack)
    return [int(frame.flat[0]) for frame in stack]


def test_an_action_repeated_sums_its_rewards_and_stops_where_the_episode_ends():
    env = RepeatAction(frame_envs.Counter(), 3)
    env.reset()
    obs, reward, terminated, truncated, _ = env.step(0)
    assert (reward, terminated, truncated, int(obs.flat[0])) == (1 + 2 + 3, False, False, 40)
    obs, reward, terminated, truncated, _ = env.step(0)  # the episode ends at its fifth step
    assert (reward, terminated, truncated, int(obs.flat[0])) == (4 + 5, True, False, 60)


@needs_opencv
def test_grayscale_frames_are_resized_and_stacked_channels_first_oldest_first():
    env = preprocess_frames(frame_envs.Counter(), "grayscale", frame_skip=2, frame_stack=3)
    assert env.observation_space == gym.spaces.Box(0, 255, (3, 84, 84), np.uint8)
    obs, _ = env.reset()
    assert obs.shape == (3, 84, 84) and _levels(obs) == [10, 10, 10]  # the reset frame fills it
    obs, reward, *_ = env.step(0)
    assert _levels(obs) == [10, 10, 30] and reward == 1 + 2
    obs, reward, *_ = env.step(0)
    assert _levels(obs) == [10, 30, 50] and reward == 3 + 4
    assert env.observation_space.contains(obs)


@needs_opencv
def test_color_frames_keep_their_channels_concatenated_oldest_first():
    env = preprocess_frames(frame_envs.Counter(), "color", frame_skip=1, frame_stack=3)
    assert env.observation_space == gym.spaces.Box(0, 255, (84, 84, 9), np.uint8)
    env.reset()
    env.step(0)
    obs, *_ = env.step(0)
    assert obs.shape == (84, 84, 9) and env.observation_space.contains(obs)
    np.testing.assert_array_equal(obs[0, 0], [10, 10, 10, 20, 20, 20, 30, 30, 30])
    assert np.all(obs == obs[:1, :1])  # resized, each frame stays uniform


@pytest.mark.parametrize("mode, channels", [("grayscale", 1), ("color", 3)])
def test_frames_drawn_into_one_array_are_stacked_as_they_were(mode, channels):
    # At the screen size already and in their own colours: nothing resized or converted, so the
    # stack must keep copies, not the environment's one array three times.
    env = preprocess_frames(
        frame_envs.Counter(size=24, channels=channels),
        mode,
        frame_skip=1,
        screen_size=24,
        frame_stack=3,
    )
    env.reset()
    env.step(0)
    obs, *_ = env.step(0)
    levels = _levels(obs) if mode == "grayscale" else list(obs[0, 0, ::3])
    assert levels == [10, 20, 30]


def test_a_colour_stack_deeper_than_the_frame_is_wide_is_refused():
    with pytest.raises(ValueError, match=r"24 channels, not fewer than the 24 pixels a side"):
        preprocess_frames(frame_envs.Counter(size=24), "color", screen_size=24, frame_stack=8)


@needs_opencv
@pytest.mark.parametrize(
    "shape, mode, expected",
    [
        ((40, 50, 4), "color", (24, 24, 6)),  # RGBA: the alpha channel left out
        ((40, 50, 4), "grayscale", (2, 24, 24)),
        ((40, 50), "color", (2, 24, 24)),  # one channel is one channel in either mode
        ((40, 50, 1), "grayscale", (2, 24, 24)),
        ((24, 24, 3), "grayscale", (2, 24, 24)),  # already the size: not resized
    ],
)
def test_every_layout_of_frames_comes_out_stacked(shape, mode, expected):
    class Frames(gym.Env):
        observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), 0.0, False, False, {}

    env = preprocess_frames(Frames(), mode, frame_skip=1, screen_size=24, frame_stack=2)
    assert env.observation_space.shape == expected
    assert env.observation_space.contains(env.reset()[0])
    assert env.observation_space.contains(env.step(0)[0])


def test_what_is_not_frames_and_atari_games_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"CartPole-v1: preprocess_frames='color' takes frames"):
        A3C("CartPole-v1", preprocess_frames="color", run_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"preprocess_frames='gray': expected one of none"):
        A3C("CartPole-v1", preprocess_frames="gray", run_dir=str(tmp_path))
    pytest.importorskip("ale_py")
    with pytest.raises(ValueError, match=r"not Atari games; ALE/Pong-v5 gets Atari's"):
        A3C("ALE/Pong-v5", preprocess_frames="grayscale", run_dir=str(tmp_path))
    # ale-py's vector path as well, which makes no environment through the factory
    with pytest.raises(ValueError, match=r"not Atari games; ALE/Pong-v5 gets Atari's"):
        make_env_group(EnvFactory("ALE/Pong-v5", preprocess_frames="color"), 2, seed=0)


@needs_opencv
@pytest.mark.slow
@pytest.mark.parametrize("mode, shape", [("grayscale", (2, 24, 24)), ("color", (24, 24, 6))])
def test_stacked_frames_let_a_feed_forward_policy_see_change(tmp_path, mode, shape):
    # A single frame of Dimmer caps a policy at 10.5 of 16 on average (measured over 100k steps:
    # a best last-100 mean of 10.8, 10.6 at the end); two stacked show the change (15.5). gamma
    # 0.1: each reward is the action's alone, so the run measures what the frames show, quickly
    # (about 30k steps).
    agent = A3C(
        frame_envs.Dimmer,
        preprocess_frames=mode,
        frame_skip=1,
        frame_stack=2,
        screen_size=24,
        gamma=0.1,
        normalize_reward=False,  # the frames family's, measured on CarRacing: not here
        total_steps=100_000,
        stop_at_return=14.5,
        seed=0,
        eval_interval=0,
        checkpoint_interval=0,
        run_dir=str(tmp_path),
        progress=False,
        tensorboard=False,
    ).learn()
    # The family is chosen on the frames as they come: a single frame's, preprocessed as asked.
    assert agent.config.family == "frames" and agent.observation_space.shape == shape
    assert agent.summary.solved_step is not None, agent.summary.best_mean_last100
    agent.save(tmp_path / "dimmer.pt")
    loaded = A3C.load(tmp_path / "dimmer.pt")
    # Its own environment, rebuilt from the saved config, preprocessed as in training.
    mean, _ = evaluate_policy(loaded, n_episodes=20, deterministic=True)
    assert mean >= 14.5
    # Its environment by id: preprocessed as the agent learned.
    mean, _ = evaluate_policy(loaded, "frame_envs:Dimmer-v0", n_episodes=20, deterministic=True)
    assert mean >= 14.5
    # A user's own instance, given the same preprocessing for predict.
    env = preprocess_frames(frame_envs.Dimmer(), mode, frame_skip=1, screen_size=24, frame_stack=2)
    obs, _ = env.reset(seed=0)
    right = 0
    for _ in range(15):
        obs, reward, *_ = env.step(loaded.predict(obs, deterministic=True)[0])
        right += int(reward)
    assert right >= 13


@needs_opencv
def test_frames_are_preprocessed_by_default_and_the_cli_notes_them_read_raw(tmp_path):
    def train(*options):
        run_dir = tmp_path / str(len(options))
        done = a3c(
            "train", "--env-maker", "frame_envs:Dimmer", *options, "--total-steps", "200",
            "--eval-interval", "0", "--no-progress", "--run-dir", run_dir,
            cwd=TESTS,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stderr, next(run_dir.glob("*/config.json")).read_text()

    # Preprocessed by default (the frames family's); read raw only when asked, and noted.
    stderr, config = train()
    assert "a3c: note" not in stderr and '"preprocess_frames": "grayscale"' in config
    assert "the defaults of the family frames" in stderr
    stderr, _ = train("--preprocess-frames", "none")
    assert "a3c: note: Dimmer's frames (32x32x3) are read as they come" in stderr
    # Evaluated on the id: its frames preprocessed as the agent learned from them.
    (run,) = (tmp_path / "0").iterdir()
    done = a3c("eval", run, "--env", "frame_envs:Dimmer-v0", "--episodes", "2", cwd=TESTS)
    assert done.returncode == 0, done.stderr
    assert "Dimmer-v0: mean return" in done.stdout
