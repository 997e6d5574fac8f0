"""Every space a Gymnasium user meets: Discrete, Dict and Tuple observations (each part its own
encoder), MultiDiscrete, MultiBinary and Box actions of any shape; they train, save, load and
predict."""

from collections import OrderedDict

import gymnasium as gym
import numpy as np
import pytest
import space_envs
import torch
from helpers import quick, small_run

from a3c import A3C, evaluate_policy
from a3c.envs import reward_number, space_from_dict, space_to_dict
from a3c.frames import RepeatAction
from a3c.networks import StructuredEncoder
from a3c.spaces import flat_parts, readable_parts


def nested_space() -> gym.Space:
    return gym.spaces.Dict(
        OrderedDict(
            z=gym.spaces.Box(0, 255, (3, 24, 24), np.uint8),  # channels first
            a=gym.spaces.Tuple((gym.spaces.Discrete(3, start=2), gym.spaces.MultiBinary(2))),
            m=gym.spaces.MultiDiscrete([2, 3]),
            v=gym.spaces.Box(-1.0, 1.0, (2, 2), np.float32),
        )
    )


def test_flat_parts_follow_gymnasiums_flattening():
    space = nested_space()
    space.seed(0)
    sample = space.sample()
    flat = gym.spaces.flatten(space, sample)
    parts = flat_parts(space)
    assert [p.size for p in parts] == [3 * 24 * 24, 3, 2, 5, 4]
    assert [p.image for p in parts] == [True, False, False, False, False]
    image, discrete, binary, multi, vector = (flat[p.start : p.start + p.size] for p in parts)
    assert np.array_equal(image.reshape(3, 24, 24), sample["z"])
    assert np.array_equal(discrete, np.eye(3)[sample["a"][0] - 2])  # one-hot, from start
    assert np.array_equal(binary, sample["a"][1])
    assert np.array_equal(
        multi, np.concatenate([np.eye(2)[sample["m"][0]], np.eye(3)[sample["m"][1]]])
    )
    assert np.allclose(vector, sample["v"].reshape(-1))
    assert parts[-1].start + parts[-1].size == gym.spaces.flatdim(space)


def test_structured_spaces_round_trip_through_checkpoints_in_their_order():
    space = nested_space()
    again = space_from_dict(space_to_dict(space))
    assert again == space and list(again.spaces) == ["z", "a", "m", "v"]  # not sorted


def test_the_encoder_gives_each_image_its_cnn_and_reads_every_column():
    parts = flat_parts(nested_space())
    encoder = StructuredEncoder(parts, (16,), "tanh", "cnn", scale_images=True)
    assert len(encoder.cnns) == 1 and encoder.width == 16
    x = torch.zeros(1, gym.spaces.flatdim(nested_space()))
    base = encoder(x)
    # Pixels (within the CNN's receptive field, which ends at 20 of 24) and every other column
    # of the flat vector change the output: none is dropped or misread.
    changed = []
    for column in [0, 2 * 24 * 24 + 10 * 24 + 10, *range(3 * 24 * 24, x.shape[1])]:
        y = x.clone()
        y[0, column] = 255.0 if column < 3 * 24 * 24 else 1.0
        changed.append(not torch.allclose(encoder(y), base))
    assert all(changed)


def test_a_normaliser_starts_as_the_image_scaling_it_replaces_in_a_structured_observation():
    """Before its first statistics a normaliser divides the images of a Dict by 255, as the
    encoder does without one, and leaves the other columns alone (it was dividing by 1: the
    pixels were clipped to 10 in every worker's first rollout)."""
    from a3c.distributions import Categorical
    from a3c.networks import ActorCritic

    space = nested_space()
    flat = (gym.spaces.flatdim(space),)
    normalised = ActorCritic(flat, Categorical(3), body="cnn", structure=space, normalize_obs=True)
    plain = ActorCritic(flat, Categorical(3), body="cnn", structure=space)
    plain.load_state_dict(normalised.state_dict(), strict=False)
    obs = torch.from_numpy(
        np.stack([gym.spaces.flatten(space, space.sample()) for _ in range(4)])
    ).float()
    torch.testing.assert_close(normalised(obs)[1], plain(obs)[1])
    assert normalised.obs_rms.var[0] == 255.0**2 and normalised.obs_rms.var[-1] == 1.0


@pytest.mark.parametrize(
    "env, steps, random_score",
    [
        (space_envs.MultiBinaryMatch, 40_000, 8.0),
        (space_envs.MultiBinaryGrid, 40_000, 8.0),  # its actions a 2x2 grid
        (space_envs.MultiDiscreteMatch, 120_000, 16 / 3),  # three bins: sharper boundaries
        (space_envs.TupleDiscreteCue, 40_000, 4.0),
        (space_envs.DiscreteCue, 40_000, 16 / 5),  # finitely many states: the tabular family
    ],
)
def test_multi_actions_and_structured_observations_learn(tmp_path, env, steps, random_score):
    # Near the best (16) where random play scores ~random_score; the run stops there.
    bar = max(14.0, random_score + 5.5)
    agent = A3C(env, **quick(tmp_path, total_steps=steps, stop_at_return=bar))
    tabular = env is space_envs.DiscreteCue
    assert agent.config.family == ("tabular" if tabular else "discrete")
    agent.learn()
    assert agent.summary.solved_step is not None, agent.summary.best_mean_last100
    # The workers end the episodes they are in after the stop, so the final mean can sit just
    # under the bar it crossed (13.84 under a loaded machine), but not fall back.
    assert agent.summary.mean_last100 >= bar - 1.0


def test_unbounded_box_actions_learn_and_reach_the_env_unclipped(tmp_path):
    """Box actions with infinite bounds (a user's own environment): a Gaussian with a linear
    mean, as the continuous family has it, whose samples nothing clips."""
    agent = A3C(space_envs.UnboundedTarget, **quick(tmp_path, total_steps=60_000))
    assert (agent.config.family, agent.config.gaussian_mean) == ("continuous", "linear")
    agent.learn()
    assert agent.summary.mean_last100 > -10.0  # random play about -55, the best 0
    target = np.array([2.5, -2.8], np.float32)
    action = agent.predict(target, deterministic=True)[0]
    # beyond [-1, 1] on both components, where a squashed or clipped mean could not go
    assert np.all(np.abs(action) > 1.5) and np.all(np.abs(action - target) < 0.8), action
    agent.save(tmp_path / "agent.pt")
    loaded = A3C.load(tmp_path / "agent.pt")
    assert loaded.action_space == space_envs.UnboundedTarget.action_space
    np.testing.assert_array_equal(loaded.predict(target, deterministic=True)[0], action)


def test_box_actions_of_two_dimensions_train_predict_and_load(tmp_path):
    """A (2, 2) Box with bounds of its own for each entry: trained, then predicted for one
    observation and a batch, each action in the space's shape, after a save and load too."""
    agent = A3C(space_envs.MatrixTarget, **quick(tmp_path, total_steps=2_000))
    agent.learn()  # the env asserts every action it gets is in its space
    target = np.array([[0.5, -0.5], [0.25, 0.0]], np.float32)
    action = agent.predict(target, deterministic=True)[0]
    assert action.shape == (2, 2) and agent.predict([target] * 3)[0].shape == (3, 2, 2)
    agent.save(tmp_path / "agent.pt")
    loaded = A3C.load(tmp_path / "agent.pt")
    assert loaded.action_space == space_envs.MatrixTarget.action_space
    np.testing.assert_array_equal(loaded.predict(target, deterministic=True)[0], action)


@pytest.mark.slow
def test_a_beta_policy_learns_box_actions_inside_their_bounds_and_loads(tmp_path):
    """box_distribution='beta': the policy learns the observed target within bounds of its own
    for each entry (random play scores about -181 an episode, a perfect one 0; the env asserts
    every action is in its space), and a saved agent predicts the same greedy action."""
    agent = A3C(
        space_envs.MatrixTarget,
        **quick(
            tmp_path,
            backend="sync",
            total_steps=20_000,
            box_distribution="beta",
            eval_interval=20_000,
            eval_episodes=10,
        ),
    )
    assert agent.model.beta and agent.config.box_distribution == "beta"
    agent.learn()
    assert agent.summary.final_eval_mean > -40, agent.summary.final_eval_mean
    target = np.array([[0.5, -0.5], [0.25, 0.0]], np.float32)
    action = agent.predict(target, deterministic=True)[0]
    assert np.abs(action - target).max() < 0.5, action
    agent.save(tmp_path / "agent.pt")
    loaded = A3C.load(tmp_path / "agent.pt")
    assert loaded.model.beta
    np.testing.assert_array_equal(loaded.predict(target, deterministic=True)[0], action)


def test_a_reward_of_one_element_is_read_and_others_refused(tmp_path):
    """``np.array([r])`` (what a reward computed with arrays easily is) trains and evaluates as
    ``r``; two rewards a step stop with a line that says what came, in training and in an
    evaluation."""
    agent = A3C(space_envs.RewardArray, **quick(tmp_path, total_steps=40_000, stop_at_return=14))
    agent.learn()
    assert agent.summary.solved_step is not None, agent.summary.best_mean_last100
    assert evaluate_policy(agent, space_envs.RewardArray(), n_episodes=2)[0] >= 14
    message = r"step\(\) returned a reward of ndarray \(2,\): a reward must be one number"
    with pytest.raises(ValueError, match=message):
        evaluate_policy(agent, space_envs.TwoRewards(), n_episodes=1)
    with pytest.raises(ValueError, match=message):  # before training: the probe steps it
        A3C(space_envs.TwoRewards, **quick(tmp_path / "two", total_steps=2_000))


@pytest.mark.parametrize(
    "env, says",
    [
        (space_envs.OldStep, r"OldStep.step\(\) returned 4 values"),
        (space_envs.OldReset, r"OldReset.reset\(\) returned int"),
        (space_envs.NoSeed, r"NoSeed.reset\(\) takes no seed"),
    ],
)
def test_an_env_written_for_gyms_old_api_is_named_as_such(tmp_path, env, says):
    """Not a failed unpacking or a shape mismatch: one line naming the call and the API."""
    says += r": it is written for gym's API before 0.26\. Gymnasium's reset"
    agent = A3C(space_envs.DiscreteCue, **quick(tmp_path, total_steps=100))
    with pytest.raises(ValueError, match=says):
        evaluate_policy(agent, env(), n_episodes=1)
    # Before training too: the agent resets and steps a user's environment once, to say so in
    # one line rather than in every worker.
    with pytest.raises(ValueError, match=says):  # (the CLI's one line for bad input)
        A3C(env, **quick(tmp_path, total_steps=1_000))


@pytest.mark.parametrize(
    "env, says",
    [
        (space_envs.ShortObservation, r"reset\(\) returned an observation of shape \(3,\); "),
        (space_envs.DictWithoutKey, r"reset\(\) returned an observation without 'mission'; "),
    ],
)
def test_an_observation_that_does_not_fit_its_space_is_named(tmp_path, env, says):
    """Not numpy's broadcasting error or a KeyError in a wrapper: which call, what came, before
    training (the agent resets and steps a user's environment once)."""
    with pytest.raises(ValueError, match=f"{env.__name__}.{says}its observation_space is "):
        A3C(env, **quick(tmp_path, total_steps=100))


def test_the_check_before_training_keeps_to_what_training_gives(tmp_path):
    """The one step before training takes an action as the workers give it (a Python int, not
    numpy's); a Dict observation that is a mapping but not a dict passes; a TypeError inside a
    reset that takes a seed is the user's, with its own traceback, not an old API."""
    A3C(space_envs.IntActionsOnly, **quick(tmp_path, total_steps=500)).learn()
    A3C(space_envs.MappingCue, **quick(tmp_path, total_steps=500)).learn()
    with pytest.raises(TypeError, match="_seed_everything") as raised:
        A3C(space_envs.SeedBug, **quick(tmp_path))
    assert "gym's API" not in str(raised.value)


def test_a_one_element_reward_is_read_through_episode_records_and_repeats(tmp_path):
    """Summed by the user's ``RecordEpisodeStatistics`` or a3c's own action repeats, a reward of
    one element stays an array of one element: it is read there too."""

    def recorded():
        return gym.wrappers.RecordEpisodeStatistics(space_envs.RewardArray())

    agent = A3C(recorded, **quick(tmp_path, total_steps=2_000))
    agent.learn()
    assert agent.summary.episodes > 0
    repeated = RepeatAction(space_envs.RewardArray(), 2)
    repeated.reset(seed=0)
    cue = repeated.unwrapped.cue
    assert reward_number(repeated.step(cue)[1]) in (1.0, 2.0)


def test_a_tanh_mean_is_refused_for_infinite_bounds(tmp_path):
    with pytest.raises(
        ValueError, match=r"gaussian_mean='tanh'.*infinite.*use gaussian_mean='linear'"
    ):
        A3C(space_envs.UnboundedTarget, **quick(tmp_path, gaussian_mean="tanh"))


@pytest.mark.parametrize("cnn_precision", ["float32", "bfloat16"])
def test_a_dict_observation_with_an_image_and_a_cue_is_read_whole(tmp_path, cnn_precision):
    # Stopped once the training games are 97% right (about 17k steps; best 16), so the greedy
    # policy below has learned what there is to learn.
    settings = quick(
        tmp_path,
        total_steps=100_000,
        stop_at_return=15.5,
        normalize_obs=False,
        cnn_precision=cnn_precision,
    )
    agent = A3C(space_envs.DictCue, **settings)
    agent.learn()
    assert agent.summary.solved_step is not None, agent.summary.best_mean_last100

    def greedy(cue: int, bright: int) -> int:
        image = np.full((24, 24, 3), 200 if bright else 20, np.uint8)
        obs = OrderedDict(cue=cue, image=image, noise=np.zeros(2, np.float32))
        return int(agent.predict(obs, deterministic=True)[0])

    actions = {(c, b): greedy(c, b) for c in range(3) for b in range(2)}
    # The action depends on the image (through its CNN) and on the cue (one-hot, through the
    # MLP): each of the six combinations has its own action, so the policy tells all six apart.
    assert actions == {(c, b): c + 3 * b for c, b in actions}, actions


def test_save_load_predict_and_evaluate_with_dict_observations(tmp_path):
    agent = A3C(space_envs.DictCue, **small_run(tmp_path, total_steps=2_000, eval_interval=0))
    agent.learn()
    agent.save(tmp_path / "dict.pt")
    loaded = A3C.load(tmp_path / "dict.pt")
    assert loaded.observation_space == agent.observation_space
    env = space_envs.DictCue()
    observations = [env.reset(seed=s)[0] for s in range(4)]
    batch, _ = agent.predict(observations, deterministic=True)  # a list of dicts: a batch
    assert batch.shape == (4,)
    for obs, action in zip(observations, batch, strict=True):
        assert loaded.predict(obs, deterministic=True)[0] == action
    # SB3's form of a batch of dicts: one dict of batched arrays.
    stacked = {key: np.stack([np.asarray(o[key]) for o in observations]) for key in observations[0]}
    assert np.array_equal(agent.predict(stacked, deterministic=True)[0], batch)
    with pytest.raises(ValueError, match="does not fit"):
        agent.predict({**observations[0], "noise": np.zeros(5, np.float32)})
    # SB3's habit: an env instance, structured as the user has it.
    mean, _ = evaluate_policy(loaded, space_envs.DictCue(), n_episodes=2)
    assert 0 <= mean <= 16


def test_multi_action_agents_round_trip(tmp_path):
    agent = A3C(space_envs.MultiDiscreteMatch, **small_run(tmp_path, total_steps=1_000))
    agent.save(tmp_path / "md.pt")
    loaded = A3C.load(tmp_path / "md.pt")
    assert loaded.action_space == agent.action_space
    obs = np.array([0.9, -0.9], np.float32)
    action, _ = loaded.predict(obs, deterministic=True)
    assert loaded.action_space.contains(action)
    assert np.array_equal(action, agent.predict(obs, deterministic=True)[0])


class TextObservations(gym.Env):
    observation_space = gym.spaces.Text(5)
    action_space = gym.spaces.Discrete(2)


class SequenceObservations(TextObservations):
    observation_space = gym.spaces.Sequence(gym.spaces.Discrete(2))


def test_spaces_a3c_cannot_take_are_named():
    # Words are read by default (tests/test_words.py); left out, a whole Text observation or
    # words in a Tuple are refused in one line, not the NotImplementedError of Gymnasium's
    # flattening
    with pytest.raises(ValueError, match="unsupported observation space Text"):
        A3C(TextObservations, words="left-out")
    with pytest.raises(ValueError, match=r"unsupported observation space .*Words"):
        A3C(space_envs.TupleWithWords, words="left-out")
    with pytest.raises(ValueError, match="unsupported observation space Sequence"):
        A3C(SequenceObservations)  # not words: refused either way


def test_dict_parts_in_words_are_left_out_with_a_warning(tmp_path):
    """With ``words="left-out"``, MiniGrid's ``mission`` (a string) is left out: the run says so
    and learns from the rest; the user's own observations, words and all, still predict. Parts
    of Gymnasium's own that are not words (a Sequence) are still refused."""
    with pytest.warns(UserWarning, match=r"left out .*being words: 'mission' \(Text\)"):
        text = A3C(space_envs.TextMissionCue, **quick(tmp_path, words="left-out"))
    assert text.observation_space == gym.spaces.Dict(cue=gym.spaces.Discrete(4))
    with pytest.warns(UserWarning, match=r"left out .*being words: 'mission' \(Words\)"):
        agent = A3C(space_envs.MissionCue, **quick(tmp_path, total_steps=40_000, words="left-out"))
    assert agent.observation_space == gym.spaces.Dict(cue=gym.spaces.Discrete(4))
    agent.learn()
    assert agent.summary.mean_last100 > 14.0  # random 4, best 16
    env = space_envs.MissionCue()
    obs = env.reset(seed=0)[0]
    assert set(obs) == {"cue", "mission"}
    action = agent.predict(obs, deterministic=True)[0]
    assert action == obs["cue"] == agent.predict({"cue": obs["cue"]}, deterministic=True)[0]
    agent.save(tmp_path / "mission.pt")
    loaded = A3C.load(tmp_path / "mission.pt")
    assert loaded.predict(obs, deterministic=True)[0] == action
    mean, _ = evaluate_policy(loaded, env, n_episodes=2)  # the user's env, words and all
    assert mean > 14.0
    sequence = gym.spaces.Sequence(gym.spaces.Discrete(2))
    assert readable_parts(gym.spaces.Dict(cue=gym.spaces.Discrete(4), s=sequence)) is None


def test_value_based_algorithms_take_structured_observations(tmp_path):
    settings = dict(algo="nstep_q", envs_per_worker=8, epsilon_anneal_steps=10_000)
    settings.update(final_epsilons=(0.05,), final_epsilon_probs=(1.0,))
    agent = A3C(space_envs.DiscreteCue, **quick(tmp_path, total_steps=30_000, **settings))
    agent.learn()
    assert agent.summary.mean_last100 > 13.0  # random: 3.2


def test_discrete_observations_predict_one_or_a_batch(tmp_path):
    agent = A3C(space_envs.DiscreteCue, **quick(tmp_path, total_steps=1_000))
    single, _ = agent.predict(3, deterministic=True)
    assert np.shape(single) == ()
    batch, _ = agent.predict(np.array([3, 0, 3]), deterministic=True)
    assert batch.shape == (3,) and batch[0] == batch[2] == single
