"""ale-py's AtariVectorEnv as a worker's group of games: step for step the same observations,
rewards, terminations, truncations, final observations and scores as the Gymnasium wrappers
(the real ROMs, deterministic settings), every setting pinned, and where it is (not) used."""

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("ale_py.vector_env")

from a3c import A3C
from a3c.ale_vector import AleVectorGroup, ale_vector_unavailable
from a3c.envs import EnvFactory, EnvGroup, make_env_group


def same_games(factory: EnvFactory, n: int, steps: int) -> dict[str, int]:
    """Step an EnvGroup and an AleVectorGroup with the same random actions; assert every output
    equal, step by step; return how many episodes ended and how."""
    wrappers, vector = EnvGroup(factory, n, seed=5), AleVectorGroup(factory, n, seed=5)
    first = wrappers.reset()
    np.testing.assert_array_equal(vector.reset(), first)
    assert vector.observation_space == wrappers.observation_space
    assert vector.action_space == wrappers.action_space
    rng = np.random.default_rng(0)
    seen = {"terminated": 0, "truncated": 0, "games": 0, "some_but_not_all_ended": 0}
    for t in range(steps):
        actions = rng.integers(int(wrappers.action_space.n), size=n)
        expected, got = wrappers.step(actions), vector.step(actions)
        for name in ("obs", "rewards", "terminated", "truncated"):
            np.testing.assert_array_equal(
                getattr(got, name), getattr(expected, name), err_msg=f"{name}, step {t}"
            )
        assert got.rewards.dtype == expected.rewards.dtype
        assert got.finished == expected.finished, f"step {t}"
        assert got.final_obs.keys() == expected.final_obs.keys(), f"step {t}"
        for i, final in expected.final_obs.items():
            np.testing.assert_array_equal(got.final_obs[i], final, err_msg=f"final {i}, {t}")
        seen["terminated"] += int(expected.terminated.sum())
        seen["truncated"] += int(expected.truncated.sum())
        seen["games"] += len(expected.finished)
        ended = expected.terminated | expected.truncated
        seen["some_but_not_all_ended"] += int(ended.any() and not ended.all())
    wrappers.close()
    vector.close()
    return seen


# Deterministic: no sticky actions, no no-op starts (the C++ and the Python side draw them
# differently: see a3c.ale_vector).
QUIET = dict(repeat_action_probability=0.0, noop_max=0)

# Pong with a frame limit short enough to reach: 1,200 frames, 300 agent steps.
gym.register(
    "a3c-test/PongShort-v0",
    entry_point="ale_py.env:AtariEnv",
    kwargs=dict(
        game="pong",
        obs_type="rgb",
        repeat_action_probability=0.0,
        full_action_space=False,
        frameskip=1,
        max_num_frames_per_episode=1200,
    ),
)


def test_time_limits_truncate_and_bootstrap_from_the_same_final_frames():
    seen = same_games(EnvFactory("PongNoFrameskip-v4", max_episode_steps=300, **QUIET), 2, 700)
    assert seen == {"terminated": 0, "truncated": 4, "games": 4, "some_but_not_all_ended": 0}


def test_the_emulators_own_frame_limit_truncates_the_same():
    """ALE's frame limit (108,000 frames for the real ids; 1,200 for this one) ends a game as a
    truncation on both paths, with the same final observation to bootstrap from."""
    seen = same_games(EnvFactory("a3c-test/PongShort-v0", **QUIET), 2, 700)
    assert seen["truncated"] == 4 and seen["terminated"] == 0 and seen["games"] == 4


def test_lost_lives_are_terminal_with_the_game_going_on_and_scores_unclipped():
    factory = EnvFactory("ALE/SpaceInvaders-v5", terminal_on_life_loss=True, **QUIET)
    seen = same_games(factory, 2, 1500)
    # games ended and lives were lost on the way (3 lives a game in Space Invaders)
    assert seen["games"] >= 2 and seen["terminated"] >= 2 * seen["games"]


def test_unstacked_frames_and_unclipped_rewards():
    factory = EnvFactory(
        "ALE/SpaceInvaders-v5", frame_stack=1, clip_rewards=False, max_episode_steps=400, **QUIET
    )
    seen = same_games(factory, 2, 1200)
    assert seen["truncated"] >= 2 and seen["games"] >= 3
    assert seen["some_but_not_all_ended"] >= 2  # one game reset while the other went on


def test_smaller_frames_are_the_same_on_both_paths():
    factory = EnvFactory("PongNoFrameskip-v4", screen_size=42, max_episode_steps=200, **QUIET)
    assert same_games(factory, 2, 450)["truncated"] == 4
    assert AleVectorGroup(factory, 1, seed=0).observation_space.shape == (4, 42, 42)


def test_every_setting_is_pinned_not_taken_from_atari_vector_env_defaults(monkeypatch):
    import ale_py.vector_env

    made: list[dict] = []
    real = ale_py.vector_env.AtariVectorEnv

    def spy(*args, **kwargs):
        made.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(ale_py.vector_env, "AtariVectorEnv", spy)
    AleVectorGroup(EnvFactory("ALE/Pong-v5"), 2, seed=0).close()
    AleVectorGroup(EnvFactory("PongNoFrameskip-v4", frame_skip=3, noop_max=7), 2, seed=0).close()
    AleVectorGroup(EnvFactory("ALE/Pong-v5", repeat_action_probability=0.1), 2, seed=0).close()
    AleVectorGroup(EnvFactory("ALE/Pong-v5", screen_size=42), 2, seed=0).close()
    v5, v4, sticky, small = made
    assert small["img_height"] == small["img_width"] == 42 and v5["img_height"] == 84
    assert v5["repeat_action_probability"] == 0.25 and v4["repeat_action_probability"] == 0.0
    assert sticky["repeat_action_probability"] == 0.1
    assert v4["frameskip"] == 3 and v5["frameskip"] == 4
    # C++ draws 0 to noop_max - 1 no-ops, Gymnasium's wrapper 1 to noop_max
    assert v4["noop_max"] == 8 and v5["noop_max"] == 31
    for kwargs in made:  # the ids' frame limit; a3c clips, stacks and watches lives itself
        assert kwargs["max_num_frames_per_episode"] == 108_000
        assert kwargs["reward_clipping"] is False and kwargs["use_fire_reset"] is False
        assert kwargs["episodic_life"] is False and kwargs["stack_num"] == 1
        assert kwargs["maxpool"] is True and kwargs["full_action_space"] is False
        assert kwargs["num_threads"] == 1 and kwargs["grayscale"] is True


def test_the_vector_path_is_taken_where_the_game_allows_it():
    def group_type(**kwargs) -> type:
        group = make_env_group(EnvFactory(**kwargs), 1, seed=0)
        group.close()
        return type(group)

    assert group_type(env_id="PongNoFrameskip-v4") is AleVectorGroup
    assert group_type(env_id="PongNoFrameskip-v4", atari_vector=False) is EnvGroup
    assert group_type(env_id="ALE/Breakout-v5") is EnvGroup  # FIRE after a lost life
    assert group_type(env_id="ALE/Pong-v5", env_kwargs={"mode": 1}) is EnvGroup
    assert group_type(env_id="CartPole-v1") is EnvGroup
    assert "FIRE" in (ale_vector_unavailable(EnvFactory("ALE/Breakout-v5")) or "")
    assert ale_vector_unavailable(EnvFactory("ALE/Breakout-v5", fire_reset=False)) is None


def test_a_game_registered_to_observe_its_ram_steps_on_the_gymnasium_path():
    # ale-py before 0.12 registered "-ram" ids (obs_type="ram" in the registration), which the
    # vector path would have stepped as frames.
    spec = gym.spec("PongNoFrameskip-v4")
    kwargs = {**spec.kwargs, "obs_type": "ram"}
    gym.register("RamPongNoFrameskip-v4", spec.entry_point, spec.max_episode_steps, kwargs=kwargs)
    try:
        factory = EnvFactory("RamPongNoFrameskip-v4")
        assert (
            ale_vector_unavailable(factory) == "RamPongNoFrameskip-v4 observes ram, not the screen"
        )
        group = make_env_group(factory, 2, seed=0)
        assert isinstance(group, EnvGroup) and group.reset().shape == (2, 128)
        group.close()
    finally:
        del gym.registry["RamPongNoFrameskip-v4"]


@pytest.mark.parametrize(
    "env_id, why", [("ALE/Breakout-v5", "FIRE"), ("CartPole-v1", "not an ale-py game")]
)
def test_requiring_the_vector_path_where_it_cannot_be_fails_before_training(env_id, why):
    with pytest.raises(ValueError, match=f"atari_vector=True, but .*{why}"):
        A3C(env_id, atari_vector=True)


def test_training_on_the_vector_path_is_reproducible_on_the_sync_backend(tmp_path, monkeypatch):
    import a3c.ale_vector

    groups: list[AleVectorGroup] = []

    class Counted(AleVectorGroup):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            groups.append(self)

    monkeypatch.setattr(a3c.ale_vector, "AleVectorGroup", Counted)

    def train(seed: int) -> torch.Tensor:
        agent = A3C(
            "PongNoFrameskip-v4",
            backend="sync",
            seed=seed,
            workers=2,
            envs_per_worker=2,
            total_steps=400,
            eval_interval=0,
            checkpoint_interval=0,
            tensorboard=False,
            progress=False,
            run_dir=str(tmp_path / str(len(groups))),
        )
        agent.learn()
        return torch.cat([p.detach().reshape(-1) for p in agent.model.parameters()])

    runs = [train(seed) for seed in (3, 3, 4)]
    assert len(groups) == 6  # both workers of every run stepped their games in AtariVectorEnv
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])
