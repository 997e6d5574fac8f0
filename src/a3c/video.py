"""Videos of the agent: evaluation environments that render ``rgb_array`` frames, wrapped in
Gymnasium's ``RecordVideo`` (which encodes with moviepy: the ``video`` extra).

Frames come from the environment's own ``render()`` (Atari: the full-colour screen, not the 84x84
frames the network sees), one per agent step plus the first, at the environment's
``render_fps`` (over ``frame_skip`` with ``preprocess_frames``; moviepy drops the last frame of
some clips, rounding the float sum of their frame durations: at 50 fps those of 11 to 14 frames
and of 207 to 1,790)."""

from __future__ import annotations

import importlib.util
import inspect
import warnings
from pathlib import Path

import gymnasium as gym

from a3c.envs import EnvFactory, extra_for, import_env_maker

VIDEO_EXTRA_HINT = 'videos need moviepy: pip install "a3c[video]"'


def check_video_support(env_factory: EnvFactory) -> None:
    """Raise ``ValueError`` now if videos cannot be made: moviepy missing, or an environment
    that does not render ``rgb_array`` frames."""
    if importlib.util.find_spec("moviepy") is None:
        raise ValueError(VIDEO_EXTRA_HINT)
    env = rendering_env(env_factory)
    try:
        env.reset(seed=0)
        env.render()
    except Exception as exc:  # whatever the renderer raises (MuJoCo: a FatalError without GL)
        hint = ""
        if extra_for(env_factory.env_id) == "mujoco":
            hint = (
                "; MuJoCo renders without a display with MUJOCO_GL=egl (a GPU) or "
                "MUJOCO_GL=osmesa (apt install libosmesa6), set before Python starts"
            )
        raise ValueError(f"cannot render {env_factory.env_id}: {exc}{hint}") from exc
    finally:
        env.close()


def rendering_env(env_factory: EnvFactory) -> gym.Env:
    """One scoring environment of the factory with ``render_mode="rgb_array"``."""
    factory = env_factory.for_evaluation()
    maker = factory.make_env
    if maker is None and factory.env_maker is not None:  # a loaded agent's: by its name
        maker = import_env_maker(factory.env_maker)
    if maker is not None and not _takes_render_mode(maker):
        env = factory()  # the callable decides: it must have made a rendering env itself
    else:
        env = factory(render_mode="rgb_array")
    if env.render_mode != "rgb_array":
        env.close()
        raise ValueError(
            f"videos need rgb_array frames; {env_factory.env_id} renders {env.render_mode!r} "
            "(an environment callable should take a render_mode argument and pass it on)"
        )
    return env


def recording_env(env_factory: EnvFactory, folder: Path, name: str) -> gym.Env:
    """A rendering environment that records its first episode; the video is written when the
    environment is closed, as ``folder/<name>-episode-0.mp4`` (see :func:`settle_video`)."""
    env = rendering_env(env_factory)
    fps = env.metadata.get("render_fps")
    if fps and env_factory.preprocess_frames != "none":
        # One frame is filmed per agent step, which stands for frame_skip of the environment's:
        # at its own rate the film would run frame_skip times too fast (CarRacing's 50 frames/s).
        fps = max(1, round(fps / env_factory.frame_skip))
    with warnings.catch_warnings():  # "overwriting existing videos": the folder holds others
        warnings.simplefilter("ignore")
        return gym.wrappers.RecordVideo(
            env,
            str(folder),
            episode_trigger=lambda episode: episode == 0,
            name_prefix=name,
            fps=fps,
            disable_logger=True,
        )


def settle_video(folder: Path, name: str, keep: bool = True) -> Path | None:
    """Rename a closed :func:`recording_env`'s video to ``folder/<name>.mp4`` and return it, or
    (``keep=False``) delete it."""
    written = folder / f"{name}-episode-0.mp4"
    if not written.exists():
        return None
    if not keep:
        written.unlink()
        return None
    return written.replace(folder / f"{name}.mp4")


def _takes_render_mode(fn: object) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):  # a builtin without a signature: try it
        return True
    return any(p.name == "render_mode" or p.kind is p.VAR_KEYWORD for p in parameters)
