"""Videos: real MP4 files, decoded, with one frame per step of the episode they show (plus the
first), from `a3c eval --video` and from evaluations during training."""

import ctypes.util
import json
import os
import subprocess
import sys

import gymnasium as gym
import pytest
from helpers import read_rows, small_run

from a3c import A3C
from a3c.cli import main
from a3c.envs import EnvFactory
from a3c.video import recording_env, settle_video

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="the video extra is not installed")


def decoded_frames(path) -> tuple[int, tuple[int, int]]:
    """Frames in the file, and their (width, height), by decoding every frame."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    frames = sum(1 for _ in reader)
    return frames, tuple(meta["size"])


def frames_at_50_fps(length: int) -> int:
    """Frames moviepy 2.2 writes for an episode of ``length`` steps at 50 frames/s (CartPole,
    LunarLander): the reset's frame, then one per step, counted as moviepy counts them. Its clip
    lasts ``sum([1 / fps] * frames)`` seconds and it writes ``int(duration * fps)`` frames, so the
    float rounding of that sum drops the last frame of some clips (11 to 14 frames, 207 to 1,790:
    a 327-step episode once failed this test with a hand-made rule that knew only the first)."""
    frames = length + 1
    return int(sum([1.0 / 50] * frames) * 50)


def test_eval_records_each_episode_it_plays(tmp_path, capsys):
    agent = A3C("CartPole-v1", **small_run(tmp_path, total_steps=2_000, eval_interval=0))
    agent.save(tmp_path / "agent.pt")
    videos = tmp_path / "videos"
    argv = ["eval", str(tmp_path / "agent.pt"), "--episodes", "2", "--json"]
    assert main([*argv, "--video", str(videos)]) == 0
    lengths = json.loads(capsys.readouterr().out)["lengths"]
    assert sorted(p.name for p in videos.iterdir()) == ["episode-0.mp4", "episode-1.mp4"]
    for i, length in enumerate(lengths):
        frames, size = decoded_frames(videos / f"episode-{i}.mp4")
        assert frames == frames_at_50_fps(length)
        assert size == (600, 400)  # CartPole's rgb_array render


def test_training_films_every_kth_evaluation(tmp_path):
    agent = A3C(
        "CartPole-v1",
        **small_run(
            tmp_path,
            # The evaluator skips the intervals that pass while it plays and films: enough of
            # them that a busy machine still gets two evaluations in (8,000 once gave one).
            total_steps=20_000,
            eval_interval=1_000,
            eval_episodes=1,  # the filmed episode is the evaluation: its length is in eval.csv
            video_interval=2,
        ),
    ).learn()
    evals = read_rows(agent.run_dir / "eval.csv")[:-1]  # the trainer's final one is not filmed
    filmed = evals[1::2]
    assert filmed
    videos = sorted((agent.run_dir / "videos").iterdir())
    assert [p.name for p in videos] == sorted(f"step-{row['global_step']}.mp4" for row in filmed)
    for row in filmed:
        frames, _ = decoded_frames(agent.run_dir / "videos" / f"step-{row['global_step']}.mp4")
        assert frames == frames_at_50_fps(int(float(row["mean_length"])))


def eval_video(tmp_path, capsys, env_id: str, max_episode_steps: int):
    """``a3c eval --video`` of one episode of a fresh agent: (episode length, frames, size)."""
    settings = dict(total_steps=100, eval_interval=0, workers=1)
    agent = A3C(env_id, **small_run(tmp_path, max_episode_steps=max_episode_steps, **settings))
    agent.save(tmp_path / "agent.pt")
    argv = ["eval", str(tmp_path / "agent.pt"), "--episodes", "1", "--json"]
    assert main([*argv, "--video", str(tmp_path / "v")]) == 0
    (length,) = json.loads(capsys.readouterr().out)["lengths"]
    return (length, *decoded_frames(tmp_path / "v" / "episode-0.mp4"))


def test_atari_videos_show_the_full_colour_screen(tmp_path, capsys):
    pytest.importorskip("ale_py")
    assert eval_video(tmp_path, capsys, "ALE/Pong-v5", 40) == (40, 41, (160, 210))


def test_box2d_renders_with_pygame(tmp_path, capsys):
    pytest.importorskip("Box2D")
    length, frames, size = eval_video(tmp_path, capsys, "LunarLander-v3", 30)
    assert frames == frames_at_50_fps(length) and size == (600, 400)


@pytest.mark.skipif(
    ctypes.util.find_library("OSMesa") is None, reason="no OSMesa (apt install libosmesa6)"
)
def test_mujoco_renders_headless_with_osmesa(tmp_path):
    pytest.importorskip("mujoco")
    script = (
        "from a3c import A3C\n"
        f"agent = A3C('InvertedPendulum-v5', run_dir={str(tmp_path)!r}, total_steps=100)\n"
        f"agent.save({str(tmp_path / 'ip.pt')!r})\n"
        "from a3c.cli import main\n"
        f"main(['eval', {str(tmp_path / 'ip.pt')!r}, '--episodes', '1', '--video', "
        f"{str(tmp_path / 'v')!r}])\n"
    )
    env = dict(os.environ, MUJOCO_GL="osmesa", PYOPENGL_PLATFORM="osmesa")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    frames, size = decoded_frames(tmp_path / "v" / "episode-0.mp4")
    assert frames >= 2 and size == (480, 480)


def not_rendering_cartpole() -> gym.Env:
    return gym.make("CartPole-v1")  # takes no render_mode: cannot be filmed


def test_what_cannot_be_filmed_is_said_before_training(tmp_path):
    with pytest.raises(ValueError, match="videos need rgb_array frames"):
        A3C(not_rendering_cartpole, **small_run(tmp_path, video_interval=1)).learn()
    with pytest.raises(ValueError, match=r"video_interval.*eval_interval"):
        A3C("CartPole-v1", **small_run(tmp_path, video_interval=1, eval_interval=0))


def test_preprocessed_frames_are_filmed_at_the_environments_pace(tmp_path):
    """With ``preprocess_frames`` each filmed frame stands for ``frame_skip`` of the
    environment's: the film runs at its frame rate over the skip (CarRacing: 50 / 5), not
    ``frame_skip`` times too fast."""
    pytest.importorskip("Box2D")
    factory = EnvFactory("CarRacing-v3", preprocess_frames="grayscale", frame_skip=5)
    env = recording_env(factory, tmp_path, "car")
    env.reset(seed=0)
    for _ in range(6):
        env.step(env.action_space.sample())
    env.close()
    path = settle_video(tmp_path, "car")
    assert path is not None
    reader = imageio_ffmpeg.read_frames(str(path))
    assert reader.__next__()["fps"] == 10.0
    assert sum(1 for _ in reader) == 7  # the reset's frame and one per agent step
