"""Defaults by family: chosen from the spaces when no preset matches, recorded, overridable."""

import dataclasses
import functools
import importlib.util
import json

import gymnasium as gym
import numpy as np
import pytest
from unpreset_envs import unpreset

from a3c import A3C
from a3c.cli import main
from a3c.config import load_preset, resolve_config
from a3c.evaluation import evaluate_policy
from a3c.families import FAMILIES, family_of

has_ale = importlib.util.find_spec("ale_py") is not None

# Standard tasks under ids no preset matches: what a user's own environment looks like.
ACROBOT = unpreset("Acrobot-v1")

VECTOR = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)


@pytest.mark.parametrize(
    "observations, actions, family",
    [
        (VECTOR, gym.spaces.Discrete(3), "discrete"),
        (VECTOR, gym.spaces.Box(-1.0, 1.0, (2,), np.float32), "continuous"),
        (gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), gym.spaces.Discrete(6), "image"),
        # Single frames as an environment renders them (CarRacing's): preprocessed by default.
        (gym.spaces.Box(0, 255, (96, 96, 3), np.uint8), gym.spaces.Discrete(5), "frames"),
        (
            gym.spaces.Box(0, 255, (64, 64, 3), np.uint8),
            gym.spaces.Box(-1, 1, (2,)),
            "frames_continuous",
        ),
        (gym.spaces.Box(0, 255, (64, 64, 1), np.uint8), gym.spaces.Discrete(2), "frames"),
        # Stacked already (colour frames' channels joined, or Atari's stack): read as they come.
        (gym.spaces.Box(0, 255, (84, 84, 12), np.uint8), gym.spaces.Discrete(6), "image"),
        (
            gym.spaces.Box(0, 255, (4, 84, 84), np.uint8),
            gym.spaces.Box(-1, 1, (2,)),
            "image_continuous",
        ),
        (
            gym.spaces.Box(0, 255, (4, 84, 84), np.uint8),
            gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Box(-1, 1, (2,)))),
            "image_continuous",
        ),
        (gym.spaces.Box(0, 255, (84, 84), np.uint8), gym.spaces.Discrete(6), "image"),
        # A small uint8 grid (a board) is read by an MLP: the family of its actions.
        (gym.spaces.Box(0, 255, (8, 8), np.uint8), gym.spaces.Discrete(4), "discrete"),
        # Finitely many states (Taxi's, Blackjack's): toy text.
        (gym.spaces.Discrete(500), gym.spaces.Discrete(6), "tabular"),
        (gym.spaces.MultiDiscrete([4, 12]), gym.spaces.Discrete(4), "tabular"),
        (
            gym.spaces.Tuple((gym.spaces.Discrete(32), gym.spaces.Discrete(11))),
            gym.spaces.Discrete(2),
            "tabular",
        ),
        (
            gym.spaces.Dict({"cell": gym.spaces.Discrete(16), "xy": VECTOR}),
            gym.spaces.Discrete(4),
            "discrete",
        ),
        (gym.spaces.Discrete(16), gym.spaces.Box(-1.0, 1.0, (2,), np.float32), "continuous"),
    ],
)
def test_the_family_is_chosen_from_the_spaces(observations, actions, family):
    assert family_of(observations, actions) == family


def test_an_env_without_a_preset_gets_its_familys_defaults_and_options_override_them(tmp_path):
    agent = A3C(ACROBOT, envs_per_worker=3, run_dir=str(tmp_path))
    config = agent.config
    assert config.preset is None and config.family == "discrete"
    for key, value in FAMILIES["discrete"].settings.items():
        if key != "envs_per_worker":
            assert getattr(config, key) == value, key
    assert config.envs_per_worker == 3  # an explicit option wins
    assert A3C("Pendulum-v1", preset="defaults").config.family == "continuous"  # a preset's env
    preset = A3C("CartPole-v1").config  # a preset replaces the family defaults whole
    assert preset.preset == "CartPole-v1" and preset.family is None
    assert preset.envs_per_worker == 16 and preset.stop_at_return == 475.0


class Frames(gym.Env):
    """Frames and two actions: an image environment with no preset."""

    observation_space = gym.spaces.Box(0, 255, (84, 84, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, True, {}


def test_frame_envs_are_evaluated_at_the_atari_presets_cadence_with_sampled_actions(tmp_path):
    """Ten episodes every 25k steps is a vector task's cadence; on frames it would take a core
    from the workers, so the image families evaluate 5 episodes every 250k, as the Atari presets.
    It samples its actions, as RL-Zoo evaluates Atari; the presets stay greedy."""
    config = A3C(Frames, run_dir=str(tmp_path)).config
    assert config.family == "frames"  # single RGB frames: the image family's, preprocessed
    assert (config.eval_interval, config.eval_episodes) == (250_000, 5)
    assert config.eval_deterministic is False
    pong = resolve_config("PongNoFrameskip-v4", "PongNoFrameskip-v4")
    assert (pong.eval_interval, pong.eval_episodes) == (250_000, 5)
    assert pong.eval_deterministic is True
    explicit = A3C(Frames, eval_interval=1_000, eval_deterministic=True, run_dir=str(tmp_path))
    assert (explicit.config.eval_interval, explicit.config.eval_episodes) == (1_000, 5)
    assert explicit.config.eval_deterministic is True


def test_the_cli_says_which_defaults_a_run_got_and_saves_them(tmp_path, capsys):
    code = main(
        [
            "train",
            ACROBOT,
            "--env-module",
            "unpreset_envs",
            "--total-steps",
            "2000",
            "--run-dir",
            str(tmp_path),
            "--run-name",
            "r",
            "--no-progress",
            "--backend",
            "sync",
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert f"no preset for {ACROBOT}: the defaults of the family discrete" in err
    assert "shared_trunk=False" in err
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["family"] == "discrete" and saved["normalize_reward"] is True


@pytest.mark.parametrize(
    "options, said",
    [
        (["Acrobot-v1", "--preset", "defaults"], "Acrobot-v1 with --preset defaults: the defaults"),
        pytest.param(
            ["ALE/Breakout-v5", "--env-kwarg", "continuous=true", "--eval-episodes", "1"],
            "ALE/Breakout-v5's preset does not fit its env_kwargs (see the warning): the defaults",
            marks=pytest.mark.skipif(not has_ale, reason="needs ale-py"),
        ),
    ],
)
def test_the_cli_says_why_an_id_with_a_preset_got_its_familys_defaults(
    options, said, tmp_path, capsys
):
    common = ["--total-steps", "400", "--run-dir", str(tmp_path), "--run-name", "r"]
    code = main(["train", *options, *common, "--no-progress", "--backend", "sync"])
    assert code == 0
    assert said in capsys.readouterr().err
    assert json.loads((tmp_path / "r" / "config.json").read_text())["family"] is not None


@pytest.mark.slow
def test_the_continuous_image_defaults_learn_box_actions_from_frames_and_keep_their_noise(
    tmp_path,
):
    """Box actions on frames get a Gaussian without the image family's entropy bonus: with it
    (0.01, chosen for a categorical policy) the noise grows as nothing holds it back (Breakout in
    ale-py's continuous mode: the Gaussian's entropy from 4.3 to 7.8 over 250k steps, the
    training games falling from 1.9 to 1.1; CarRacing's std from 1.0 to 3.3). Both families of
    Box actions on frames have it; this is the image_continuous family as it is, on frames that
    come stacked (as Atari's)."""
    from frame_envs import Brightness

    # The sync backend makes the same updates on every run: greedy -2.3 at 25k steps (one kind
    # of frame learned), -1.2 at 100k, -0.66 at 150k with the log-std at -1.57, -0.32 at 200k
    # (2026-12-07, about 32 s for 150k).
    agent = A3C(
        functools.partial(Brightness, stacked=True),
        total_steps=150_000,
        backend="sync",
        seed=0,
        run_dir=str(tmp_path),
        progress=False,
        tensorboard=False,
        checkpoint_interval=0,
    )
    assert agent.config.family == "image_continuous" and agent.config.ent_coef == 0.0
    agent.learn()
    mean, _ = evaluate_policy(agent, n_episodes=20, deterministic=True)
    assert mean > -1.0  # the mean at 0, as it starts: -4; random actions: -5; the best: 0
    assert agent.model.log_std.item() < agent.config.init_log_std - 0.5  # the noise shrank


def test_only_the_frames_families_set_environment_fields_and_the_agent_reads_their_spaces(
    tmp_path,
):
    # An agent reads its env's spaces before the family is chosen: a family that changes the
    # environment (preprocessed frames) is read again, as its workers will make it.
    from a3c.envs import EnvFactory

    env_fields = {f.name for f in dataclasses.fields(EnvFactory)}
    for name, family in FAMILIES.items():
        changed = env_fields & set(family.settings)
        assert not changed or name.startswith("frames"), (name, changed)
    from frame_envs import Counter

    frames = functools.partial(Counter, size=84)  # 84 pixels a side: nothing to resize
    agent = A3C(frames, run_dir=str(tmp_path))
    assert agent.config.family == "frames" and agent.config.preprocess_frames == "grayscale"
    assert agent.observation_space.shape == (4, 84, 84) and agent.config.frame_skip == 4
    # Options still override the family: raw frames, as they come...
    agent = A3C(frames, preprocess_frames="none", run_dir=str(tmp_path))
    assert agent.config.family == "frames" and agent.observation_space.shape == (84, 84, 3)
    # ...or in colour: the family is chosen on the frames as they come, not as asked for.
    agent = A3C(frames, preprocess_frames="color", frame_stack=2, run_dir=str(tmp_path))
    assert agent.config.family == "frames" and agent.observation_space.shape == (84, 84, 6)
    assert agent.config.frame_skip == 4 and agent.config.normalize_reward


def test_the_frames_family_is_what_carracing_learned_with():
    """The frames family's settings are the CarRacing-v3.discrete preset's, whose run measured
    them (docs/status.md), but for the evaluation's cadence, which the preset sets for its
    budget, and the frame skip: the preset keeps the 8 it was measured with, the family holds
    each action for 4, measured since on CarRacing and MiniWorld."""
    preset = load_preset("CarRacing-v3.discrete")
    assert preset["frame_skip"] == 8 and FAMILIES["frames"].settings["frame_skip"] == 4
    for name, value in FAMILIES["frames"].settings.items():
        if name not in ("eval_interval", "eval_episodes", "frame_skip"):
            assert preset[name] == value, name


@pytest.mark.skipif(not has_ale, reason="needs ale-py")
def test_an_atari_game_made_by_a_callable_is_not_preprocessed_again(tmp_path):
    # Its frames are single RGB ones, but ale-py skips frames already (4 in ALE/*-v5): an
    # action held for 8 more would be 32 frames.
    agent = A3C(functools.partial(gym.make, "ALE/Pong-v5"), run_dir=str(tmp_path))
    assert agent.config.family == "image" and agent.config.preprocess_frames == "none"
    assert agent.observation_space.shape == (210, 160, 3)


def test_a_preset_for_another_env_is_a_starting_point_with_a_warning():
    with pytest.warns(UserWarning, match="tuned for CartPole-v1; using it for Acrobot-v1"):
        agent = A3C("Acrobot-v1", preset="CartPole-v1")
    assert agent.config.env_id == "Acrobot-v1" and agent.config.preset == "CartPole-v1"
    assert agent.config.family is None


def test_keyword_arguments_that_change_the_kind_of_actions_leave_the_ids_preset_aside():
    pytest.importorskip("Box2D")
    # LunarLander-v3's preset is for its discrete actions; continuous=True makes it the
    # environment registered as LunarLanderContinuous-v3, whose preset it gets instead.
    with pytest.warns(UserWarning, match="the preset of LunarLanderContinuous-v3") as said:
        config = A3C("LunarLander-v3", env_kwargs={"continuous": True}).config
    assert config.preset == "LunarLanderContinuous-v3" and config.std_mode == "sde"
    assert config.env_id == "LunarLander-v3" and config.env_kwargs == {"continuous": True}
    assert not [w for w in said if "as a starting point" in str(w.message)]  # said once
    # Registered with every keyword argument or not at all: with the wind on too, no twin.
    with pytest.warns(UserWarning, match="continuous family: its family's defaults instead"):
        kwargs = {"continuous": True, "enable_wind": True}
        config = A3C("LunarLander-v3", env_kwargs=kwargs).config
    assert config.preset is None and config.family == "continuous"
    # No id is registered as Breakout with continuous=True (ale-py's Box actions on the same
    # frames): the family's defaults.
    pytest.importorskip("ale_py")
    with pytest.warns(UserWarning, match="image family; with continuous=True it is of the image_c"):
        config = A3C("ALE/Breakout-v5", env_kwargs={"continuous": True}).config
    assert config.preset is None and config.family == "image_continuous"
    # A value-based algorithm's preset gives way to the config's defaults (the families are
    # A3C's), and then the algorithm says that it takes no Box actions.
    with (
        pytest.warns(UserWarning, match="the config's defaults instead"),
        pytest.raises(ValueError, match="nstep_q learns Q-values of discrete actions"),
    ):
        A3C("PongNoFrameskip-v4", algo="nstep_q", env_kwargs={"continuous": True})


def test_keyword_arguments_that_keep_the_kind_of_spaces_keep_the_ids_preset(recwarn):
    config = A3C("Pendulum-v1", env_kwargs={"g": 9.81}).config
    assert config.preset == "Pendulum-v1" and config.env_kwargs == {"g": 9.81}
    assert not [w for w in recwarn if "preset" in str(w.message)]
    # Named, a preset is taken as it is, fit or not.
    pytest.importorskip("Box2D")
    config = A3C("LunarLander-v3", "LunarLander-v3", env_kwargs={"continuous": True}).config
    assert config.preset == "LunarLander-v3"


@pytest.mark.parametrize(
    "env_id, kwargs, twin",
    [
        ("LunarLander-v3", {"continuous": True}, "LunarLanderContinuous-v3"),
        ("LunarLanderContinuous-v3", {"continuous": False}, "LunarLander-v3"),
        # registered with a time limit of its own (2,000 steps, not 1,600)
        ("BipedalWalker-v3", {"hardcore": True}, None),
        ("CarRacing-v3", {"continuous": False}, None),
        ("CartPole-v1", {}, None),
        ("NotAnEnv-v0", {"x": 1}, None),
    ],
)
def test_the_id_registered_as_an_environment_with_keyword_arguments(env_id, kwargs, twin):
    from a3c.envs import registered_twin

    pytest.importorskip("Box2D")  # the Box2D ids' module is imported to read its defaults

    assert registered_twin(env_id, kwargs) == twin


@pytest.mark.slow
@pytest.mark.parametrize(
    "env_id, family, total_steps, bar, backend, seed",
    [
        # The shared-trunk defaults of before never reached the goal (last-100 mean -499 over
        # 1M steps); the family's reach -100 within a few ten thousand.
        pytest.param("Acrobot-v1", "discrete", 300_000, -100.0, "processes", 0, id="acrobot"),
        # The old defaults' last-100 mean was 77 after 1M steps; the family's reach 950
        # (measured with 1M steps to anneal over: 115k and 139k steps on seeds 0-1).
        pytest.param(
            "InvertedPendulum-v5",
            "continuous",
            400_000,
            950.0,
            "processes",
            0,
            id="inverted-pendulum",
        ),
        # Exploration-hard: the defaults of before (n_steps 8, gamma 0.98) stayed near 0, as does
        # a policy that learns to save its action cost before it finds the flag. Whether the
        # noise finds the flag differs from run to run: with 600k steps (twice the old preset's
        # budget; the lr anneals over it) seed 0 on the processes backend reached 90 in 7 runs
        # of 10 (46k-337k steps; 2026-12-04), and CI once saw seeds 0-2 all miss. The sync
        # backend gives the same updates on every run: seeds 0-5 reached 90 on 5 of 6 (seed 1
        # never found the flag), seed 0 at 208k steps, twice alike, so this test does not depend
        # on the workers' timing. With 4 envs per worker (2026-12-05), seeds 0-7 on the sync
        # backend: 5 of 8 (seeds 0, 1 and 4 never found the flag); seed 5 at 23,928 steps, twice
        # alike. On the processes backend, 17 seeds of 20 within 200k.
        pytest.param(
            "MountainCarContinuous-v0",
            "continuous",
            600_000,
            90.0,
            "sync",
            5,
            id="mountain-car-continuous",
        ),
        # The discrete family's settings never deliver a passenger (-200 at the time limit); the
        # tabular family's annealed entropy bonus does, and reaches the bar as the bonus runs
        # out, so a shorter run reaches it sooner. On the sync backend every run makes the same
        # updates. Taxi's info gives an action mask, which is read (2026-12-06, sync): 8.0 at
        # 127k-136k of 150k steps (seeds 0-2), at 232k-251k of 300k (seeds 0-3), and on 1 seed
        # of 3 within 100k; without the mask (action_mask="none"), at 479k-496k of 500k.
        pytest.param("Taxi-v4", "tabular", 150_000, 8.0, "sync", 0, id="taxi"),
    ],
)
def test_the_family_defaults_learn_a_standard_task_under_an_unknown_id(
    env_id, family, total_steps, bar, backend, seed, tmp_path
):
    """No preset matches the id, so the family's defaults alone must reach the task's bar."""
    if env_id.endswith("-v5"):
        pytest.importorskip("mujoco")
    agent = A3C(
        unpreset(env_id),
        env_module="unpreset_envs",
        seed=seed,
        backend=backend,
        total_steps=total_steps,
        stop_at_return=bar,
        run_dir=str(tmp_path),
        progress=False,
        tensorboard=False,
        eval_interval=0,
    ).learn()
    assert agent.config.preset is None and agent.config.family == family
    summary = agent.summary
    assert summary.solved_step is not None, (
        f"{summary.episodes} episodes, {summary.global_step} steps, best last-100 mean "
        f"{summary.best_mean_last100}, last {summary.mean_last100}"
    )
