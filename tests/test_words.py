"""Observations in words (MiniGrid's ``mission``, Gymnasium's ``Text``) read as numbers: a bag of
their words and word pairs, each hashed into two of 256 buckets (a3c.spaces.HashedWords)."""

import hashlib
import os
import string
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import space_envs
import torch
from helpers import a3c

from a3c import A3C, Config, evaluate_policy
from a3c.checkpoint import load_checkpoint, save_checkpoint
from a3c.spaces import HashedWords, encode_words, in_words, word_parts, words_as_numbers
from a3c.trainer import build_model

TESTS = Path(__file__).parent


def naive_words(text: str, size: int = 256) -> np.ndarray:
    """The encoding written out: ASCII letters and digits make words, the rest separates them."""
    kept = "".join(c if c in string.ascii_lowercase + string.digits else " " for c in text.lower())
    words = kept.split()
    features = words + [words[i] + " " + words[i + 1] for i in range(len(words) - 1)]
    vector = np.zeros(size, np.float32)
    for feature in features:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest[:4], "little") % size] = 1.0
        vector[int.from_bytes(digest[4:], "little") % size] = 1.0
    return vector


def test_a_text_is_the_bag_of_its_words_and_word_pairs_each_hashed_twice():
    space = HashedWords()
    texts = ["go to the red ball", "Put the blue key next to the grey box.", "a", "", "x y x y"]
    for text in texts:
        np.testing.assert_array_equal(space.encode(text), naive_words(text))
        assert space.contains(space.encode(text))
    assert space.encode("").sum() == 0 and 2 <= space.encode("a").sum() <= 2  # one word, 2 hashes
    # Case and punctuation are not words; the order of the words is read through their pairs.
    np.testing.assert_array_equal(
        space.encode("Go to the RED ball!"), space.encode("go to the red ball")
    )
    first, second = "put the red ball next to the blue box", "put the blue box next to the red ball"
    assert not np.array_equal(space.encode(first), space.encode(second))
    # BabyAI's colours and objects, each word on its own: no two read the same
    words = "red green blue purple yellow grey ball box key door go to the pick up open put next"
    encoded = {tuple(space.encode(word).nonzero()[0]) for word in words.split()}
    assert len(encoded) == len(words.split())
    with pytest.raises(ValueError, match=r"expected words \(a string\), got int"):
        space.encode(3)


def test_the_hash_is_the_same_in_every_process():
    """Python's own ``hash`` of a string changes with PYTHONHASHSEED from process to process;
    workers, evaluation and a later load must read a text alike."""
    text = "go to the red ball"
    code = "from a3c.spaces import HashedWords\n"
    code += f"print(HashedWords().encode({text!r}).nonzero()[0].tolist())"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(HashedWords().encode(text).nonzero()[0].tolist())


@pytest.mark.parametrize("env", [space_envs.WordCue, space_envs.TextCue])
def test_a_task_told_in_words_learns_and_predicts_from_text(tmp_path, env):
    """The cue is in the words alone (random 4, best 16): a policy that scores 14 reads them.
    Then the user's own observations, text and all, predict one at a time and in a batch, after a
    save and load too, and evaluate on the user's env instance."""
    settings = dict(run_dir=str(tmp_path), progress=False, tensorboard=False, seed=0)
    settings.update(eval_interval=0, checkpoint_interval=0)
    agent = A3C(env, total_steps=100_000, stop_at_return=14.0, **settings)
    words = (
        agent.observation_space if env is space_envs.TextCue else agent.observation_space["mission"]
    )
    assert isinstance(words, HashedWords)
    agent.learn()
    # Reached 14; the episodes the workers end after the stop may pull the mean just under it.
    assert agent.summary.solved_step is not None and agent.summary.mean_last100 >= 13.0
    user_env = env()
    observations, cues = [], []
    for seed in range(8):
        observations.append(user_env.reset(seed=seed)[0])
        cues.append(user_env.cue)
    assert [int(agent.predict(o, deterministic=True)[0]) for o in observations] == cues
    assert agent.predict(observations, deterministic=True)[0].tolist() == cues
    if env is space_envs.TextCue:  # texts in a tuple or an array are a batch too
        assert agent.predict(tuple(observations), deterministic=True)[0].tolist() == cues
        assert agent.predict(np.array(observations), deterministic=True)[0].tolist() == cues
        assert agent.predict(np.array(observations[0]), deterministic=True)[0] == cues[0]
    agent.save(tmp_path / "words.pt")
    loaded = A3C.load(tmp_path / "words.pt")
    assert loaded.observation_space == agent.observation_space  # HashedWords, not a plain Box
    assert loaded.predict(observations, deterministic=True)[0].tolist() == cues
    mean, _ = evaluate_policy(loaded, user_env, n_episodes=2)
    assert mean >= 14.0
    with pytest.raises(ValueError, match="reads observations as it learned to"):
        A3C.load(tmp_path / "words.pt", words="left-out")


def test_words_deeper_in_an_observation_are_read_and_predict(tmp_path):
    """A Tuple's words (which ``words="left-out"`` refuses) and words in a Dict of a Dict."""
    agent = A3C(space_envs.TupleWithWords, run_dir=str(tmp_path), total_steps=100)
    assert repr(agent.observation_space) == "Tuple(Discrete(4), HashedWords(256))"
    single, _ = agent.predict((2, "act the cue"))
    batch, _ = agent.predict([(2, "act the cue"), (1, "act the cue")])
    assert np.shape(single) == () and batch.shape == (2,)
    nested = gym.spaces.Dict(
        OrderedDict(a=gym.spaces.Dict(OrderedDict(w=space_envs.Words())), b=gym.spaces.Discrete(2))
    )
    read = words_as_numbers(nested)
    assert read["a"]["w"] == HashedWords() and list(read.spaces) == ["a", "b"]
    assert word_parts(read) == ["'a'['w']"] and word_parts(HashedWords()) == [""]
    encoded = encode_words(read, {"a": {"w": "go"}, "b": 1})
    np.testing.assert_array_equal(encoded["a"]["w"], naive_words("go"))


def test_another_packages_space_of_numbers_is_refused_not_read_as_words():
    assert in_words(space_envs.Words()) and not in_words(space_envs.Numbers())
    with pytest.raises(ValueError, match=r"unsupported observation space .*Numbers"):
        A3C(space_envs.ForeignNumbers)


def test_an_id_evaluated_gets_the_agents_words(tmp_path):
    """``evaluate_policy`` on an id reads its words as the agent learned to: an agent that left
    them out, and one that read them."""
    settings = dict(run_dir=str(tmp_path), total_steps=100, progress=False, tensorboard=False)
    with pytest.warns(UserWarning, match="left out"):
        left_out = A3C("space_envs:WordCue-v0", words="left-out", **settings)
    evaluate_policy(left_out, "space_envs:WordCue-v0", n_episodes=1)
    evaluate_policy(A3C("space_envs:WordCue-v0", **settings), "WordCue-v0", n_episodes=1)


def test_a_checkpoint_saved_before_words_were_read_loads_with_them_left_out(tmp_path):
    """Runs saved before the ``words`` field left a Dict's words out: loaded, they still do, so
    their networks fit the observations their environments give."""
    settings = dict(run_dir=str(tmp_path), progress=False, tensorboard=False, total_steps=100)
    with pytest.warns(UserWarning, match="left out"):
        agent = A3C(space_envs.WordCue, words="left-out", **settings)
    path = agent.save(tmp_path / "old.pt")
    payload = load_checkpoint(path)
    del payload["config"]["words"]
    save_checkpoint(payload, path)
    loaded = A3C.load(path)
    evaluate_policy(loaded, n_episodes=1)  # its own environment, words left out
    assert loaded.config.words == "left-out"
    assert list(loaded.observation_space.spaces) == ["noise"]


def test_a_checkpoint_saved_before_film_loads_with_its_words_as_inputs(tmp_path):
    """Runs saved before ``word_conditioning`` took the words in as inputs: loaded, they still
    do (the weights of a FiLM network would not fit); no override changes it."""
    settings = dict(run_dir=str(tmp_path), progress=False, tensorboard=False, total_steps=100)
    agent = A3C(space_envs.WordCue, word_conditioning="input", **settings)
    path = agent.save(tmp_path / "old.pt")
    payload = load_checkpoint(path)
    del payload["config"]["word_conditioning"]
    # nor, as then, FiLM's word columns among the weights (built from the parts, not saved)
    assert not [key for key in payload["model"] if "word_columns" in key]
    save_checkpoint(payload, path)
    loaded = A3C.load(path)
    assert loaded.config.word_conditioning == "input"
    observation = space_envs.WordCue().reset(seed=3)[0]
    assert (
        loaded.predict(observation, deterministic=True)[0]
        == agent.predict(observation, deterministic=True)[0]
    )
    with pytest.raises(ValueError, match="takes the words in as it learned to"):
        A3C.load(path, word_conditioning="film")


def test_words_that_select_what_the_other_parts_say_are_learned_through_film(tmp_path):
    """NamedSlot: the mission names a colour, the slots say where each colour is; either alone
    scores random play's 4 of 16. With FiLM (the default) the words scale and shift the first
    hidden layer's units: 14 at 23k-28k steps on seeds 0-2. Taken in as inputs beside the slots,
    no seed of the three reached 14 within 200k (best last-100 means 11.2-13.2; 2026-12-06)."""
    settings = dict(run_dir=str(tmp_path), progress=False, tensorboard=False, seed=0)
    settings.update(eval_interval=0, checkpoint_interval=0)
    agent = A3C(space_envs.NamedSlot, total_steps=60_000, stop_at_return=14.0, **settings)
    assert agent.config.word_conditioning == "film"
    agent.learn()
    summary = agent.summary
    assert summary.solved_step is not None, (summary.global_step, summary.best_mean_last100)


@pytest.mark.parametrize("conditioning", ["film", "input"])
def test_film_starts_as_the_identity_and_the_words_reach_it(conditioning):
    """Under FiLM the words are no input: at the start, before its weights have learned
    anything, they change nothing; the first gradient reaches its weights. As inputs they count
    from the start. The other parts are inputs either way."""
    space = words_as_numbers(space_envs.NamedSlot.observation_space)
    config = Config(word_conditioning=conditioning, hidden_sizes=(16, 16), shared_trunk=False)
    model = build_model(config, space, gym.spaces.Discrete(4))
    (encoder,) = model.actor_body
    env = space_envs.NamedSlot()
    obs = encode_words(space, env.reset(seed=0)[0])
    flat = torch.as_tensor(gym.spaces.flatten(space, obs)).repeat(2, 1)
    words = slice(0, 256)  # the mission comes first in the Dict
    flat[1, words] = torch.as_tensor(naive_words("none of them"))
    other = model.actor_body(flat[:1])
    assert not torch.equal(flat[0], flat[1])
    features = model.actor_body(flat)
    if conditioning == "film":
        assert encoder.word_columns.tolist() == list(range(256))
        assert encoder.vector_columns.tolist() == list(range(256, 256 + 16))
        torch.testing.assert_close(features[0], features[1], rtol=0, atol=0)
        features.pow(2).sum().backward()
        assert encoder.film.weight.grad.abs().sum() > 0
    else:
        assert encoder.film is None and encoder.vector_columns.numel() == 256 + 16
        assert not torch.allclose(features[0], features[1])
    torch.testing.assert_close(features[:1], other)


def test_the_cli_says_how_it_reads_words(tmp_path):
    def train(maker, *options):
        run_dir = tmp_path / f"{maker}{len(options)}"
        done = a3c(
            "train", "--env-maker", f"space_envs:{maker}", *options, "--total-steps", "200",
            "--eval-interval", "0", "--no-progress", "--run-dir", run_dir,
            cwd=TESTS,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stderr, next(run_dir.glob("*/config.json")).read_text()

    stderr, config = train("WordCue")
    assert "a3c: note: WordCue's observations in words ('mission') are read as a bag" in stderr
    assert "which scale and shift the first hidden layer's units (FiLM" in stderr
    assert '"words": "hashed"' in config and '"word_conditioning": "film"' in config
    stderr, _ = train("TextCue")
    assert "a3c: note: TextCue's observations in words (whole) are read" in stderr
    assert "FiLM" not in stderr  # nothing beside them to condition
    assert "--words left-out" not in stderr  # which would refuse it
    stderr, config = train("WordCue", "--words", "left-out")
    assert "observations in words" not in stderr and '"words": "left-out"' in config
    assert "left out of the observations, being words: 'mission'" in stderr
    # evaluated on an id: its words left out, as the agent learned
    (run,) = (tmp_path / "WordCue2").iterdir()
    done = a3c("eval", run, "--env", "space_envs:WordCue-v0", "--episodes", "1", cwd=TESTS)
    assert done.returncode == 0, done.stderr


def test_a_minigrid_mission_is_read_from_episode_to_episode():
    """BabyAI's missions change between episodes: each episode's flat observation ends with its
    own mission's words (direction one-hot, image, mission: the Dict's sorted keys)."""
    pytest.importorskip("minigrid")
    from a3c.envs import EnvFactory

    env = EnvFactory("BabyAI-GoToLocalS5N2-v0")()
    missions = set()
    for seed in range(4):
        flat = env.reset(seed=seed)[0]
        assert flat.shape == (4 + 7 * 7 * 3 + 256,)
        np.testing.assert_array_equal(flat[-256:], naive_words(env.unwrapped.mission))
        missions.add(env.unwrapped.mission)
    assert len(missions) > 1
    env.close()
