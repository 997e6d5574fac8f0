"""Action masks (a3c.masks): found where the environment gives them, carried with the
observations, and never a disallowed action taken, in training, evaluation and predict."""

import json
import warnings
from pathlib import Path

import gymnasium as gym
import mask_envs
import numpy as np
import pytest
import torch
from helpers import a3c, read_rows, small_run

from a3c import A3C, evaluate_policy
from a3c.checkpoint import load_checkpoint, save_checkpoint
from a3c.distributions import Categorical, EpsilonGreedy, MultiCategorical, epsilon_greedy
from a3c.envs import EnvFactory, probe_spaces
from a3c.masks import MaskInObservation, mask_logits, mask_size

TESTS = Path(__file__).parent
DOORS = {
    "info": mask_envs.InfoDoors,
    "method": mask_envs.MethodDoors,
    "observation": mask_envs.ObservedDoors,
}


def never_a_disallowed_action(run_dir) -> int:
    """Check that every episode of a run ran to the time limit (a disallowed action ends one at
    once, with -1); the number of episodes."""
    rows = read_rows(run_dir / "episodes.csv")
    assert rows
    for row in rows:
        assert (float(row["return"]), int(row["length"])) == (mask_envs.STEPS, mask_envs.STEPS)
    return len(rows)


def test_masked_logits_give_disallowed_actions_no_probability_and_leave_an_empty_mask_alone():
    logits = torch.randn(4, 5)
    mask = torch.tensor(
        [[1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [1, 1, 1, 1, 1]], dtype=torch.float32
    )
    masked = mask_logits(logits, mask, [5])
    dist = Categorical(5)
    log_probs = [dist.log_prob((masked,), torch.full((4,), action)) for action in range(5)]
    probs = torch.stack(log_probs, dim=1).exp()
    # the softmax over the allowed actions alone; a mask that allows nothing leaves the row
    for row in range(4):
        allowed = mask[row].bool() if mask[row].any() else torch.ones(5, dtype=torch.bool)
        expected = torch.zeros(5)
        expected[allowed] = torch.softmax(logits[row, allowed], dim=0)
        torch.testing.assert_close(probs[row], expected)
        reference = torch.distributions.Categorical(logits=logits[row, allowed]).entropy()
        torch.testing.assert_close(dist.entropy((masked[row : row + 1],))[0], reference)
    assert dist.mode((masked,)).tolist()[2] == 4
    samples = dist.sample((masked.expand(1000, 4, 5).reshape(-1, 5),)).reshape(1000, 4)
    assert set(samples[:, 0].tolist()) == {0, 2} and set(samples[:, 2].tolist()) == {4}
    assert set(samples[:, 1].tolist()) == set(range(5))


def test_a_multidiscrete_mask_is_each_components_own():
    logits = torch.zeros(2, 7)
    mask = torch.tensor([[0, 1, 0, 0, 0, 1, 1], [0, 0, 0, 1, 0, 0, 0]], dtype=torch.float32)
    masked = mask_logits(logits, mask, [3, 4])
    dist = MultiCategorical([3, 4])
    samples = dist.sample((masked.repeat(500, 1),)).reshape(500, 2, 2)
    assert set(samples[:, 0, 0].tolist()) == {1}
    assert set(samples[:, 0, 1].tolist()) == {2, 3}
    # the second row's first component allows nothing: left as it is, the second only action 0
    assert set(samples[:, 1, 0].tolist()) == {0, 1, 2}
    assert set(samples[:, 1, 1].tolist()) == {0}


def test_epsilon_greedy_explores_only_the_allowed_actions():
    q = mask_logits(torch.tensor([[3.0, 2.0, 1.0, 0.0]]), torch.tensor([[0.0, 1, 0, 1]]), [4])
    generator = torch.Generator().manual_seed(0)
    actions = torch.cat([epsilon_greedy(q, 1.0, generator, masked=True) for _ in range(2000)])
    counts = torch.bincount(actions, minlength=4)
    assert counts[0] == counts[2] == 0
    assert abs(int(counts[1]) - 1000) < 120  # uniform over the two allowed
    assert epsilon_greedy(q, 0.0, masked=True).item() == 1  # greedy: the best allowed
    policy = EpsilonGreedy(4, epsilon=0.5)
    policy.masked = True
    torch.testing.assert_close(policy.probs((q,)), torch.tensor([[0.0, 0.75, 0.0, 0.25]]))


@pytest.mark.parametrize("source", ["info", "method", "observation"])
def test_the_mask_is_found_where_the_environment_gives_it(source):
    factory = EnvFactory("m", make_env=DOORS[source], env_maker="x:y", action_mask="auto")
    assert probe_spaces(factory)[2] == source


def test_ids_are_looked_at_too_and_a_place_named_is_checked():
    assert probe_spaces(EnvFactory("Taxi-v4", action_mask="auto"))[2] == "info"
    assert probe_spaces(EnvFactory("CartPole-v1", action_mask="auto"))[2] == "none"
    assert probe_spaces(EnvFactory("Taxi-v4", action_mask="none"))[2] == "none"
    with pytest.raises(ValueError, match="CartPole-v1 gives no info\\['action_mask'\\]"):
        A3C("CartPole-v1", action_mask="info")
    with pytest.raises(ValueError, match="gives no action_masks\\(\\) method"):
        A3C(mask_envs.InfoDoors, action_mask="method")
    with pytest.raises(ValueError, match="no 'action_mask' part in its observations"):
        A3C(mask_envs.MethodDoors, action_mask="observation")


def test_the_mask_is_looked_for_on_the_environment_probed_for_its_spaces(tmp_path):
    """Making an agent makes the user's environment twice: once for its name, once probed (its
    spaces, its first step, its mask), not once more to look for the mask."""
    mask_envs.CountedDoors.made = 0
    agent = A3C(mask_envs.CountedDoors, **small_run(tmp_path))
    assert agent.config.action_mask == "info" and mask_envs.CountedDoors.made == 2


def test_a_config_taken_to_another_environment_looks_for_that_ones_mask(tmp_path):
    masked = A3C(mask_envs.InfoDoors, **small_run(tmp_path))
    assert A3C("CartPole-v1", config=masked.config).config.action_mask == "none"
    plain = A3C("CartPole-v1", **small_run(tmp_path))
    assert A3C(mask_envs.InfoDoors, config=plain.config).config.action_mask == "info"
    # unless the caller says otherwise
    kept = A3C(mask_envs.InfoDoors, config=plain.config, action_mask="none")
    assert kept.config.action_mask == "none"


@pytest.mark.parametrize("source", ["info", "method", "observation"])
def test_a_masked_action_is_never_taken_in_training_or_evaluation(tmp_path, source):
    """From the first episode: the environments end one at its first disallowed action."""
    agent = A3C(DOORS[source], **small_run(tmp_path, backend="sync", total_steps=2_000))
    assert agent.config.action_mask == source
    agent.learn()
    assert never_a_disallowed_action(agent.run_dir) > 50
    assert json.loads((agent.run_dir / "config.json").read_text())["action_mask"] == source
    evaluations = read_rows(agent.run_dir / "eval.csv")
    assert evaluations and all(float(row["mean_return"]) == mask_envs.STEPS for row in evaluations)
    # an instance of the user's, as Stable-Baselines3's evaluate_policy takes it
    mean, _ = evaluate_policy(agent, DOORS[source](), n_episodes=3, deterministic=False)
    assert mean == mask_envs.STEPS


def test_without_the_mask_disallowed_actions_are_taken(tmp_path):
    """The probe above can fail: read no mask, and the first episodes end at once."""
    agent = A3C(mask_envs.InfoDoors, action_mask="none", **small_run(tmp_path, backend="sync"))
    agent.learn()
    returns = [float(row["return"]) for row in read_rows(agent.run_dir / "episodes.csv")]
    assert sum(r < mask_envs.STEPS for r in returns) > len(returns) / 2


@pytest.mark.parametrize(("backend", "start_method"), [("processes", "spawn"), ("threads", None)])
def test_masks_travel_to_the_workers_of_other_backends(tmp_path, backend, start_method):
    settings = small_run(tmp_path, backend=backend, total_steps=2_000, eval_interval=1_000)
    agent = A3C(mask_envs.InfoDoors, start_method=start_method, **settings).learn()
    never_a_disallowed_action(agent.run_dir)


def test_masks_travel_to_ray_actors(tmp_path, local_ray):
    # Ray's actors get the environment factory, and so the mask's place in it, pickled.
    settings = small_run(tmp_path, backend="ray", total_steps=2_000, eval_interval=1_000)
    never_a_disallowed_action(A3C(mask_envs.InfoDoors, **settings).learn().run_dir)


@pytest.mark.parametrize("algo", ["q", "nstep_q", "sarsa"])
def test_value_based_workers_explore_only_allowed_actions(tmp_path, algo):
    agent = A3C(mask_envs.InfoDoors, algo=algo, **small_run(tmp_path, backend="sync"))
    agent.learn()
    never_a_disallowed_action(agent.run_dir)


def test_an_lstm_policy_reads_the_mask_through_its_rollout(tmp_path):
    agent = A3C(
        mask_envs.InfoDoors,
        lstm=True,
        lstm_size=16,
        shared_trunk=True,
        **small_run(tmp_path, backend="sync"),
    )
    agent.learn()
    never_a_disallowed_action(agent.run_dir)


def test_multidiscrete_actions_are_masked_component_by_component(tmp_path):
    agent = A3C(mask_envs.MultiDoors, **small_run(tmp_path, backend="sync"))
    assert agent.config.action_mask == "info"
    agent.learn()
    never_a_disallowed_action(agent.run_dir)


def test_a_hybrids_discrete_parts_are_masked_and_its_others_left_alone(tmp_path):
    """A Dict of a door, lights (MultiBinary: not masked), a gear and a push: the mask is the
    door's values then the gear's. No disallowed door or gear is taken in training, evaluation
    or predict, and the lights are still drawn."""
    space = mask_envs.HybridDoors.action_space
    assert mask_size(space) == mask_envs.N_ACTIONS + 3
    assert mask_size(gym.spaces.Tuple((gym.spaces.MultiBinary(2), space["push"]))) is None
    settings = small_run(tmp_path, backend="sync", total_steps=2_000)
    agent = A3C(mask_envs.HybridDoors, **settings)
    assert agent.config.action_mask == "info" and agent.model.mask_sizes == [8, 3]
    agent.learn()
    never_a_disallowed_action(agent.run_dir)
    evaluations = read_rows(agent.run_dir / "eval.csv")
    assert evaluations and all(float(row["mean_return"]) == mask_envs.STEPS for row in evaluations)
    obs, _ = agent.env.reset(seed=0)
    allowed = np.zeros(mask_envs.N_ACTIONS + 3)
    allowed[[5, mask_envs.N_ACTIONS + 2]] = 1
    for deterministic in (True, False):
        actions, _ = agent.predict(
            np.repeat(obs[None], 200, 0),
            deterministic=deterministic,
            action_masks=np.tile(allowed, (200, 1)),
        )
        assert all(space.contains(action) for action in actions)
        assert {action["door"] for action in actions} == {5}
        assert {int(action["gear"][0]) for action in actions} == {2}
    assert len({tuple(action["lights"]) for action in actions}) > 1


def test_predict_takes_sb3_contribs_action_masks(tmp_path):
    agent = A3C(mask_envs.InfoDoors, **small_run(tmp_path))
    env = agent.env  # the environment's own observations: the mask in its info
    obs, info = env.reset(seed=0)
    assert obs.shape == (3,) and "action_mask" in info
    allowed = set(np.flatnonzero(info["action_mask"]).tolist())
    actions = {int(agent.predict(obs, action_masks=info["action_mask"])[0]) for _ in range(200)}
    assert actions == allowed
    greedy, _ = agent.predict(obs, action_masks=info["action_mask"], deterministic=True)
    assert int(greedy) in allowed
    # a batch, a mask per row; and without masks every action may come
    batch, _ = agent.predict(np.stack([obs] * 3), action_masks=np.eye(8)[[1, 4, 6]])
    assert batch.tolist() == [1, 4, 6]
    assert len({int(agent.predict(obs)[0]) for _ in range(300)}) > len(allowed)
    with pytest.raises(ValueError, match="one per action"):
        agent.predict(obs, action_masks=np.ones(7))
    unmasked = A3C("CartPole-v1", **small_run(tmp_path))
    with pytest.raises(ValueError, match="reads no action mask"):
        unmasked.predict(np.zeros(4, np.float32), action_masks=np.ones(2))


def test_an_observed_mask_is_replaced_by_predicts_action_masks(tmp_path):
    agent = A3C(mask_envs.ObservedDoors, **small_run(tmp_path))
    obs, _ = agent.env.reset(seed=0)
    own = set(np.flatnonzero(obs["action_mask"]).tolist())
    assert {int(agent.predict(obs)[0]) for _ in range(200)} == own
    other = np.zeros(8)
    other[next(a for a in range(8) if a not in own)] = 1
    assert {int(agent.predict(obs, action_masks=other)[0]) for _ in range(50)} == {
        int(np.argmax(other))
    }


def test_a_mask_read_by_a_saved_agent_is_read_by_the_loaded_one(tmp_path):
    agent = A3C(mask_envs.InfoDoors, **small_run(tmp_path, backend="sync")).learn()
    loaded = A3C.load(agent.run_dir / "checkpoints" / "final.pt")
    assert loaded.config.action_mask == "info"
    assert evaluate_policy(loaded, n_episodes=3, deterministic=False)[0] == mask_envs.STEPS
    with pytest.raises(ValueError, match="action mask, as it learned to"):
        A3C.load(agent.run_dir / "checkpoints" / "final.pt", action_mask="none")


def test_a_checkpoint_saved_before_masks_were_read_loads_without_one(tmp_path):
    """Runs saved before the field existed read no mask: loaded, they still do, so their
    networks fit the observations (an observed mask is an input to them)."""
    agent = A3C(mask_envs.ObservedDoors, action_mask="none", **small_run(tmp_path))
    path = agent.save(tmp_path / "old.pt")
    payload = load_checkpoint(path)
    del payload["config"]["action_mask"]
    save_checkpoint(payload, path)
    loaded = A3C.load(path)
    assert loaded.config.action_mask == "none" and not loaded.model.has_action_mask
    obs = mask_envs.ObservedDoors().reset(seed=1)[0]
    assert loaded.predict(obs, deterministic=True)[0] == agent.predict(obs, deterministic=True)[0]


def test_a_step_without_its_mask_allows_every_action_and_says_so_once():
    env = MaskInObservation(mask_envs.ForgetfulDoors(), "info")
    env.reset(seed=0)

    def step_allowed():  # an action the environment allows: the episode goes on
        return env.step(int(np.flatnonzero(env.env.mask)[0]))[0]["action_mask"]

    for _ in range(4):
        assert step_allowed().sum() == mask_envs.ALLOWED
    with pytest.warns(RuntimeWarning, match="gave no info\\['action_mask'\\] before its episode"):
        assert step_allowed().tolist() == [1] * mask_envs.N_ACTIONS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once
        assert step_allowed().sum() == mask_envs.N_ACTIONS


def test_masks_that_do_not_fit_are_said_so():
    with pytest.raises(ValueError, match="an action mask of 7 values for Discrete\\(8\\)"):
        MaskInObservation(mask_envs.ShortMaskDoors(), "info").reset(seed=0)
    with pytest.raises(ValueError, match="gave no info\\['action_mask'\\]"):
        MaskInObservation(mask_envs._Doors(), "info").reset(seed=0)
    with pytest.raises(ValueError, match="Discrete or MultiDiscrete"):
        A3C("Pendulum-v1", action_mask="info")


def test_masked_environments_that_are_not_the_users_own_resolve_too():
    """An id registered by a package: Gymnasium's Taxi gives its mask in info."""
    agent = A3C("Taxi-v4", total_steps=1_000, progress=False, tensorboard=False)
    assert agent.config.action_mask == "info"
    assert isinstance(agent.observation_space, gym.spaces.Dict)
    assert agent.model.has_action_mask


def test_the_cli_says_where_it_reads_the_mask(tmp_path):
    """(``--action-mask none`` is parsed as each choice is, in test_cli; an agent that reads no
    mask is tested above.)"""
    done = a3c(
        "train", "--env-maker", "mask_envs:InfoDoors", "--total-steps", "400",
        "--eval-interval", "0", "--no-progress", "--backend", "sync", "--run-dir", tmp_path,
        cwd=TESTS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "a3c: note: InfoDoors says which actions it allows, in info['action_mask']" in (
        done.stderr
    )
    assert '"action_mask": "info"' in next(tmp_path.glob("*/config.json")).read_text()


def masked_batch(model, rows: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat observations of InfoDoors' masked space, each with a random mask of 2 actions, and
    those masks."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(rows, 3, generator=generator) * 2 - 1
    masks = torch.zeros(rows, mask_envs.N_ACTIONS)
    for row in range(rows):
        masks[row, torch.randperm(mask_envs.N_ACTIONS, generator=generator)[:2]] = 1
    return torch.cat([noise, masks], dim=1), masks


@pytest.mark.parametrize("lstm", [False, True])
def test_the_loss_replays_the_rollout_with_its_masks(tmp_path, lstm):
    """The log-probabilities and entropies of the update come from ``sequence``: masked as the
    actions were (the LSTM replays its rollout step by step)."""
    extra = dict(lstm=True, lstm_size=8, shared_trunk=True) if lstm else {}
    model = A3C(mask_envs.InfoDoors, **small_run(tmp_path), **extra).model
    obs, masks = masked_batch(model, 12)
    T, N = 3, 4
    starts = torch.zeros(T, N, dtype=torch.bool)
    (logits,), _ = model.sequence(obs.reshape(T, N, -1), model.initial_state(N), starts)
    lowest = torch.finfo(logits.dtype).min
    assert (logits[masks == 0] == lowest).all() and (logits[masks == 1] > lowest).all()
    (stepped,), _, _ = model.step(obs[:N], model.initial_state(N), starts[0])
    torch.testing.assert_close(stepped, logits[:N])


def test_q_learning_targets_take_the_max_over_the_allowed_actions(tmp_path):
    model = A3C(mask_envs.InfoDoors, algo="q", **small_run(tmp_path)).model
    obs, masks = masked_batch(model, 16)
    with torch.no_grad():
        target = model.target_q_values(obs)
        unmasked = model.target_q_values(torch.cat([obs[:, :3], torch.ones_like(masks)], 1))
    best_allowed = unmasked.masked_fill(masks == 0, -torch.inf).max(dim=-1).values
    torch.testing.assert_close(target.max(dim=-1).values, best_allowed)
    assert (unmasked.argmax(-1) != target.argmax(-1)).any()  # the mask changed some maxima


def test_the_mask_joins_the_flat_observation_as_gymnasium_flattens_the_dict():
    env = EnvFactory("Taxi-v4", action_mask="info")()
    masked = env.env  # MaskInObservation, under a3c's flattening
    observation, _ = masked.reset(seed=3)
    flat = env.observation(observation)
    expected = gym.spaces.flatten(masked.observation_space, observation)
    assert flat.dtype == expected.dtype and np.array_equal(flat, expected)
    assert flat.shape == (506,) and flat[500:].tolist() == observation["action_mask"].tolist()


def test_predict_puts_the_mask_after_an_observation_of_any_shape(tmp_path):
    agent = A3C(mask_envs.GridInfoDoors, **small_run(tmp_path))
    obs, info = agent.env.reset(seed=0)
    assert obs.shape == (2, 3)
    allowed = set(np.flatnonzero(info["action_mask"]).tolist())
    assert {int(agent.predict(obs, action_masks=info["action_mask"])[0]) for _ in range(100)} == (
        allowed
    )
    actions, _ = agent.predict(np.stack([obs, obs]), action_masks=np.eye(8)[[2, 5]])
    assert actions.tolist() == [2, 5]
