"""The optional extras for Gymnasium's Box2D and MuJoCo families (``a3c[box2d]``,
``a3c[mujoco]``, ``a3c[all]``): their environments build, step and train headless."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

from a3c.envs import EnvFactory, EnvGroup, check_spaces

ROOT = Path(__file__).parents[1]
OPTIONAL_EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
    "optional-dependencies"
]


def needs(module: str) -> None:
    """Skip without ``module``, except in CI, which installs every extra (``.ci/run``): there a
    missing one is a broken install step, not a reason to skip."""
    if os.environ.get("CI"):
        __import__(module)
    else:
        pytest.importorskip(module)


def test_all_is_every_optional_extra():
    (requirement,) = OPTIONAL_EXTRAS["all"]
    match = re.fullmatch(r"a3c\[([\w,]+)\]", requirement)
    assert match, requirement
    # dev and bench are for working on a3c, not for running it
    assert set(match.group(1).split(",")) == set(OPTIONAL_EXTRAS) - {"all", "dev", "bench"}
    assert {"ray", "atari", "box2d", "mujoco"} <= set(OPTIONAL_EXTRAS)


def test_box2d_and_mujoco_extras_are_gymnasiums():
    assert OPTIONAL_EXTRAS["box2d"] == ["gymnasium[box2d]"]
    assert OPTIONAL_EXTRAS["mujoco"] == ["gymnasium[mujoco]"]


SUITE = [
    ("LunarLander-v3", "Box2D", (8,), 4),
    ("LunarLanderContinuous-v3", "Box2D", (8,), (2,)),
    ("BipedalWalker-v3", "Box2D", (24,), (4,)),
    ("InvertedPendulum-v5", "mujoco", (4,), (1,)),
    ("InvertedDoublePendulum-v5", "mujoco", (9,), (1,)),
    ("Reacher-v5", "mujoco", (10,), (2,)),
    ("Swimmer-v5", "mujoco", (8,), (2,)),
    ("Hopper-v5", "mujoco", (11,), (3,)),
    ("HalfCheetah-v5", "mujoco", (17,), (6,)),
    ("Walker2d-v5", "mujoco", (17,), (6,)),
    ("Ant-v5", "mujoco", (105,), (8,)),
]


@pytest.mark.parametrize(("env_id", "module", "obs_shape", "actions"), SUITE)
def test_suite_envs_build_and_step(env_id, module, obs_shape, actions):
    """Every Box2D and MuJoCo id of the suite: spaces a3c supports, 300 steps of random actions
    in a group of two (episodes restart within the step), finite observations."""
    needs(module)
    group = EnvGroup(EnvFactory(env_id), 2, seed=0)
    try:
        check_spaces(group.observation_space, group.action_space)
        assert group.observation_space.shape == obs_shape
        space = group.action_space
        assert (space.n if isinstance(actions, int) else space.shape) == actions
        obs = group.reset()
        space.seed(0)
        for _ in range(300):
            obs = group.step([space.sample() for _ in range(2)]).obs
            assert obs.dtype == np.float32 and np.isfinite(obs).all()
    finally:
        group.close()


@pytest.mark.parametrize(
    ("env_id", "module"), [("LunarLander-v3", "Box2D"), ("Hopper-v5", "mujoco")]
)
def test_cli_trains_on_each_family_headless(env_id, module, tmp_path):
    """``a3c train`` end to end with no display and no MUJOCO_GL (MuJoCo renders nothing unless
    asked to)."""
    needs(module)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MUJOCO_GL")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "a3c",
            "train",
            env_id,
            "--total-steps",
            "2000",
            "--workers",
            "1",
            "--backend",
            "sync",
            "--eval-episodes",
            "1",
            "--no-progress",
            "--no-tensorboard",
            "--run-dir",
            tmp_path,
            "--run-name",
            "run",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["global_step"] >= 2000 and summary["episodes"] >= 1
