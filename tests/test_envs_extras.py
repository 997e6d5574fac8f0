"""The optional extras for Gymnasium's Box2D and MuJoCo families (``a3c[box2d]``,
``a3c[mujoco]``, ``a3c[all]``): their environments build, step and train headless."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import tomllib
from gymnasium.envs.classic_control import CartPoleEnv
from helpers import a3c

from a3c import envs
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
    # dev, bench and docs are for working on a3c, not for running it
    assert set(match.group(1).split(",")) == set(OPTIONAL_EXTRAS) - {"all", "dev", "bench", "docs"}
    assert {"ray", "atari", "box2d", "mujoco"} <= set(OPTIONAL_EXTRAS)


def test_box2d_and_mujoco_extras_are_gymnasiums():
    # and OpenCV, which resizes CarRacing's frames (the frames family preprocesses them)
    assert OPTIONAL_EXTRAS["box2d"][0] == "gymnasium[box2d]"
    assert any(r.startswith("opencv-python-headless") for r in OPTIONAL_EXTRAS["box2d"])
    assert OPTIONAL_EXTRAS["mujoco"][0] == "gymnasium[mujoco]"


def test_mujoco_envs_are_made_quietly(tmp_path):
    """No warning on stderr and no MUJOCO_LOG.TXT left in the working directory (MuJoCo 3.16 and
    later write both for HalfCheetah's model, on every environment made)."""
    needs("mujoco")
    ids = [env_id for env_id, module, *_ in SUITE if module == "mujoco"]
    code = f"from a3c.envs import EnvFactory\nfor env_id in {ids!r}:\n    EnvFactory(env_id)()"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert list(tmp_path.iterdir()) == []


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


# Makes the modules named in A3C_TEST_UNINSTALLED unimportable in a Python process, as if their
# packages were not installed (the same ModuleNotFoundError), without uninstalling anything.
UNINSTALL = """\
import os
import sys

MISSING = set(os.environ["A3C_TEST_UNINSTALLED"].split(","))


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in MISSING:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())

import importlib.util

_find_spec = importlib.util.find_spec


def find_spec(name, package=None):  # as for a package that is not there: no spec
    if name.partition(".")[0] in MISSING:
        return None
    return _find_spec(name, package)


importlib.util.find_spec = find_spec
"""


def train_without(modules, env_id, tmp_path):
    """``python -m a3c train ENV_ID`` in a process where ``modules`` cannot be imported."""
    (tmp_path / "sitecustomize.py").write_text(UNINSTALL)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "A3C_TEST_UNINSTALLED": ",".join(modules),
    }
    return subprocess.run(
        [sys.executable, "-m", "a3c", "train", env_id, "--total-steps", "1000", "--no-progress"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("env_id", "module", "extra"),
    [
        ("LunarLander-v3", "Box2D", "box2d"),
        ("BipedalWalker-v3", "Box2D", "box2d"),
        ("CarRacing-v3", "pygame", "box2d"),  # pygame-ce draws its observations
        ("HalfCheetah-v5", "mujoco", "mujoco"),
        ("InvertedPendulum-v5", "mujoco", "mujoco"),
        ("Hopper-v5", "imageio", "mujoco"),  # a plain ModuleNotFoundError, not Gymnasium's error
        ("PongNoFrameskip-v4", "cv2", "atari"),  # ale-py is here; the preprocessing needs OpenCV
    ],
)
def test_a_missing_dependency_is_one_line_naming_the_extra(env_id, module, extra, tmp_path):
    if extra == "atari":
        needs("ale_py")
    out = train_without([module], env_id, tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    line = (
        f"a3c: error: {env_id} needs the {extra} extra (No module named '{module}'): "
        f'pip install "a3c[{extra}]"\n'
    )
    # ale-py prints its banner (two lines) when the game loads, before the wrappers fail
    assert out.stderr == line if extra != "atari" else out.stderr.endswith("Stella]\n" + line)
    assert not (tmp_path / "runs").exists()  # nothing started


@pytest.mark.parametrize("env_id", ["phys2d/CartPole-v1", "tabular/Blackjack-v0"])
def test_gymnasiums_own_jax_environments_name_gymnasiums_extra(env_id, tmp_path):
    """Gymnasium's jax environments import jax when made: no extra of ours installs it, and the
    error is not the user's bug, so one line naming Gymnasium's extra, not a traceback."""
    out = train_without(["jax"], env_id, tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr == (
        f"a3c: error: {env_id} needs Gymnasium's jax extra (No module named 'jax'): "
        'pip install "gymnasium[jax]"\n'
    )


def test_gymnasiums_shimmy_stand_in_is_one_line(tmp_path):
    """Gymnasium registers the gym compatibility ids with a function that raises ImportError
    until shimmy replaces them: its own advice, in one line (shimmy made missing, as the dmc
    extra installs it)."""
    out = train_without(["shimmy"], "GymV26Environment-v0", tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr == (
        "a3c: error: cannot make 'GymV26Environment-v0': To use the gym compatibility "
        'environments, run `pip install "shimmy[gym-v21]"` or `pip install "shimmy[gym-v26]"`\n'
    )


def test_a_dm_control_id_without_shimmy_names_the_extra(tmp_path):
    out = train_without(["shimmy"], "dm_control/cartpole-balance-v0", tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr == (
        "a3c: error: unknown environment 'dm_control/cartpole-balance-v0'; shimmy registers ids "
        'like it: pip install "a3c[dmc]"\n'
    )


def test_gymnasium_extra_for_reads_gymnasiums_metadata():
    from a3c.envs import gymnasium_extra_for

    assert gymnasium_extra_for("jax", "gymnasium.envs.phys2d.cartpole") == "jax"
    assert gymnasium_extra_for("jaxlib") == "jax"
    # pygame-ce installs pygame; three extras do, the environment's subpackage picks one
    assert gymnasium_extra_for("pygame", "gymnasium.envs.classic_control.cartpole") == (
        "classic-control"
    )
    assert gymnasium_extra_for("pygame", "gymnasium.envs.toy_text.taxi") == "toy-text"
    assert gymnasium_extra_for("a3c_no_such_module") is None
    assert gymnasium_extra_for("jax_extras") is None  # a prefix of a name is not the name


def test_the_uninstalling_really_uninstalls(tmp_path):
    """The check above is only as good as the hiding: the hidden module fails to import, and
    another one does not."""
    (tmp_path / "sitecustomize.py").write_text(UNINSTALL)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "A3C_TEST_UNINSTALLED": "json"}
    code = "import importlib, sys\ntry:\n    import json\nexcept ModuleNotFoundError as e:\n"
    code += "    print(e.name, 'csv' in sys.modules or bool(importlib.import_module('csv')))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout == "json True\n", out.stderr


def test_extra_for_reads_the_entry_points_package():
    from a3c.envs import extra_for

    assert extra_for("LunarLanderContinuous-v3") == "box2d"
    assert extra_for("Walker2d-v5") == "mujoco"
    assert extra_for("Walker2d-v4") == "mujoco"
    assert extra_for("CartPole-v1") is None
    assert extra_for("a3c/CartPoleNoVelocity-v1") is None


def test_a_dependency_no_extra_covers_keeps_the_envs_own_message(tmp_path):
    """An environment of the user's that lacks its own dependency: one line with its message."""
    import gymnasium as gym

    def needs_something():
        raise gym.error.DependencyNotInstalled("foo is not installed, run `pip install foo`")

    gym.register("a3c-test/NeedsFoo-v0", entry_point=needs_something)
    try:
        with pytest.raises(ValueError) as error:
            EnvFactory("a3c-test/NeedsFoo-v0")()
    finally:
        del gym.registry["a3c-test/NeedsFoo-v0"]
    assert str(error.value) == (
        "cannot make 'a3c-test/NeedsFoo-v0': foo is not installed, run `pip install foo`"
    )


def test_an_import_failing_in_a_users_env_keeps_its_traceback():
    """Only the families an extra installs turn a failed import into the one-line error."""
    import gymnasium as gym

    def broken():
        import a3c_no_such_module  # noqa: F401

    gym.register("a3c-test/Broken-v0", entry_point=broken)
    try:
        with pytest.raises(ModuleNotFoundError, match="a3c_no_such_module"):
            EnvFactory("a3c-test/Broken-v0")()
    finally:
        del gym.registry["a3c-test/Broken-v0"]


class RefusesThisVersion(CartPoleEnv):
    def __init__(self, **kwargs):
        raise ImportError("`a3c-test/Refuses-v1` is only supported on `foo<3`")


def test_an_env_that_refuses_whats_installed_is_one_line_naming_the_newest_version():
    """An ImportError the constructor raises itself (Gymnasium's MuJoCo v4 ids on mujoco 3) is
    not a missing package: naming the extra, which is installed, would be wrong advice."""
    import gymnasium as gym

    gym.register("a3c-test/Refuses-v1", entry_point=RefusesThisVersion)
    gym.register("a3c-test/Refuses-v2", entry_point=CartPoleEnv)
    try:
        with pytest.raises(ValueError) as error:
            EnvFactory("a3c-test/Refuses-v1")()
    finally:
        del gym.registry["a3c-test/Refuses-v1"], gym.registry["a3c-test/Refuses-v2"]
    assert str(error.value) == (
        "cannot make 'a3c-test/Refuses-v1': `a3c-test/Refuses-v1` is only supported on `foo<3` "
        "(the newest version is a3c-test/Refuses-v2)"
    )


def test_pusher_v4_on_mujoco_3_is_refused_not_a_missing_extra():
    needs("mujoco")
    import mujoco

    if int(mujoco.__version__.split(".")[0]) < 3:
        pytest.skip("Pusher-v4 runs on mujoco < 3")
    with pytest.raises(ValueError) as error:
        EnvFactory("Pusher-v4")()
    message = str(error.value)
    assert message.startswith("cannot make 'Pusher-v4': `Pusher-v4` is only supported on")
    assert message.endswith("(the newest version is Pusher-v5)")
    assert "a3c[mujoco]" not in message


def test_a_broken_install_is_still_one_line():
    """mujoco's own message for a broken install spans two lines, the second the repair."""
    from a3c.envs import missing_dependency

    error = ImportError("core bindings are missing. Repair with:\n  pip install mujoco-core\n")
    assert missing_dependency("Hopper-v5", error) == (
        "Hopper-v5 needs the mujoco extra (core bindings are missing. Repair with: pip install "
        'mujoco-core): pip install "a3c[mujoco]"'
    )


def test_a_deprecated_version_is_one_line_naming_the_new_one():
    with pytest.raises(ValueError, match=r"v3 for `Taxi` is deprecated.*`Taxi-v4`"):
        EnvFactory("Taxi-v3")()


def test_an_id_that_a_known_package_registers_imports_it_or_names_it(monkeypatch):
    """Gymnasium 1.x registers a third-party id (MiniGrid's) only once its package is imported:
    a package listed for the id's beginning is imported when installed, or named to install."""
    packages = {
        ("RegisteredOnImport-",): ("registers_on_import", "registers-on-import"),
        ("NeverInstalled-",): ("a3c_no_such_package", "no-such-package"),
        ("FailsOnImport-",): ("fails_on_import", "fails-on-import"),
    }
    monkeypatch.setattr(envs, "REGISTERING_PACKAGES", packages)
    # as if never imported in this process, whatever ran before
    monkeypatch.delitem(sys.modules, "registers_on_import", raising=False)
    monkeypatch.delitem(gym.registry, "RegisteredOnImport-v0", raising=False)
    env = EnvFactory("RegisteredOnImport-v0")()  # no env_module given
    assert env.observation_space.shape == (4,)
    env.close()
    with pytest.raises(ValueError) as error:
        EnvFactory("NeverInstalled-v0")()
    assert str(error.value) == (
        "unknown environment 'NeverInstalled-v0'; a3c_no_such_package registers ids like it: "
        "pip install no-such-package"
    )
    # installed, imported, and still no such id: not "import the package" advice
    with pytest.raises(ValueError) as error:
        EnvFactory("RegisteredOnImport-Nothing-v7")()
    assert "--env-module" not in str(error.value)
    # the package's own import failing: one line
    with pytest.raises(ValueError) as error:
        EnvFactory("FailsOnImport-v0")()
    assert str(error.value) == (
        "FailsOnImport-v0: importing fails_on_import, which registers it, failed: "
        "No module named 'a3c_absent_dependency'"
    )
    # no such package listed, nothing close: how to register it yourself
    with pytest.raises(ValueError, match=r"needs the package imported: --env-module PACKAGE$"):
        EnvFactory("MyCompanyRobotArm-v3")()
    # an id only as near to Atari's as any of its length is (0.52): not a typo of theirs
    with pytest.raises(ValueError, match=r"'FlappyBird-v0'; an id that a package registers"):
        EnvFactory("FlappyBird-v0")()


def test_minigrid_ids_need_no_env_module_and_learn(tmp_path):
    """MiniGrid as a new user runs it: the id alone (minigrid imported for it), its text mission
    read as hashed words, the discrete family's defaults. Empty-8x8's greedy policy walks the
    shortest path to the goal (0.96, where the reward is 1 - 0.9 * steps / 256 and an untrained
    greedy policy scores 0): on seeds 0-5 at the first evaluation, 25k steps."""
    needs("minigrid")
    budget = ["--seed", "0", "--total-steps", "100000", "--eval-interval", "25000"]
    budget += ["--stop-at-eval-return", "0.9"]
    quiet = ["--run-dir", str(tmp_path), "--run-name", "e8", "--no-progress", "--no-tensorboard"]
    out = a3c("train", "MiniGrid-Empty-8x8-v0", *budget, *quiet, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Empty-8x8-v0's observations in words ('mission') are read as a bag" in out.stderr
    evaluations = (tmp_path / "e8" / "eval.csv").read_text().splitlines()
    best = max(float(row.split(",")[2]) for row in evaluations[1:])
    assert best >= 0.9, evaluations


def test_deepminds_control_suite_ids_need_no_env_module_and_train(tmp_path):
    """``dm_control/`` ids, which Shimmy registers when imported (the dmc extra): the id alone,
    its Dict of Boxes read whole, the continuous family's defaults; its 1,000-step episodes
    end as truncations, and a short run (one worker, in this process) trains, finishes its
    episodes and evaluates."""
    needs("shimmy")
    needs("dm_control")
    from a3c import A3C, evaluate_policy

    env_id = "dm_control/cartpole-balance-v0"
    quiet = dict(run_dir=str(tmp_path), progress=False, tensorboard=False, eval_interval=0)
    agent = A3C(env_id, total_steps=2_100, workers=1, envs_per_worker=1, backend="sync", **quiet)
    assert agent.config.family == "continuous"
    assert list(agent.observation_space.spaces) == ["position", "velocity"]
    env = EnvFactory(env_id)()
    env.reset(seed=0)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated) and steps < 2000:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
    assert (steps, terminated, truncated) == (1000, False, True)
    env.close()
    agent.learn()
    assert agent.summary.episodes == 2
    mean, _ = evaluate_policy(agent, n_episodes=1)
    assert 0 < mean <= 1000  # a reward in [0, 1] for each of its 1,000 steps
