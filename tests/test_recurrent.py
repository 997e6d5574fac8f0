"""CNN bodies and LSTM policies: shapes, the paper's layer sizes, state handling, truncated BPTT,
the worker's carrying of the state across rollouts, and ``predict(obs, state, episode_start)``."""

import dataclasses
import importlib
import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import run_updates, tiny_model

from a3c import A3C
from a3c.config import Config
from a3c.distributions import Categorical
from a3c.envs import EnvFactory
from a3c.global_model import SharedGlobalModel
from a3c.networks import BODIES, ActorCritic
from a3c.shared_optim import SharedRMSprop
from a3c.spaces import observation_space_of
from a3c.trainer import build_model
from a3c.worker import keeps_rollout_graph

FRAMES = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_cnn_has_the_papers_layers():
    model = ActorCritic((4, 84, 84), Categorical(6), body="cnn", pixels=True)
    convs = [m for m in model.actor_body if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (16, (8, 8), (4, 4)),
        (32, (4, 4), (2, 2)),
    ]
    fc = [m for m in model.actor_body if isinstance(m, torch.nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fc] == [(32 * 9 * 9, 256)]
    assert n_params(model.actor_body) == (4 * 64 * 16 + 16) + (16 * 16 * 32 + 32) + (
        2592 * 256 + 256
    )
    (logits,), value = model(torch.zeros(3, 4, 84, 84, dtype=torch.uint8))
    assert logits.shape == (3, 6) and value.shape == (3,)


def test_nature_cnn_has_dqns_layers():
    model = ActorCritic((4, 84, 84), Categorical(6), body="nature_cnn", pixels=True)
    convs = [m for m in model.actor_body if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (32, 8, 4),
        (64, 4, 2),
        (64, 3, 1),
    ]
    fc = [m for m in model.actor_body if isinstance(m, torch.nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fc] == [(64 * 7 * 7, 512)]


def test_elu_cnn_has_four_padded_elu_convolutions_and_no_dense_layer():
    model = ActorCritic((4, 84, 84), Categorical(6), body="elu_cnn", pixels=True, lstm_size=256)
    convs = [m for m in model.actor_body if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == [
        (32, 3, 2, 1)
    ] * 4
    assert sum(isinstance(m, torch.nn.ELU) for m in model.actor_body) == 4
    assert not any(isinstance(m, torch.nn.Linear) for m in model.actor_body)
    assert model.lstm is not None and model.lstm.input_size == 32 * 6 * 6  # 84 -> 42, 21, 11, 6
    # ELU features can be negative: not the all-positive ReLU features of the other CNNs
    features = model.actor_body(model._features(torch.randint(0, 256, (2, 4, 84, 84))))
    assert features.shape == (2, 1152) and (features < 0).any()


def test_the_network_option_offers_every_body_there_is():
    choices = next(f for f in dataclasses.fields(Config) if f.name == "network").metadata["choices"]
    assert choices == ("auto", *BODIES)


def test_network_is_chosen_by_the_observation_and_can_be_forced():
    discrete = gym.spaces.Discrete(6)
    assert build_model(Config(), FRAMES, discrete).body == "cnn"
    assert build_model(Config(network="nature_cnn"), FRAMES, discrete).body == "nature_cnn"
    assert build_model(Config(network="elu_cnn"), FRAMES, discrete).body == "elu_cnn"
    vector = gym.spaces.Box(-1, 1, (4,), np.float32)
    assert build_model(Config(), vector, discrete).body == "mlp"
    with pytest.raises(ValueError, match="channels, height, width"):
        build_model(Config(network="cnn"), vector, discrete)


def test_uint8_frames_are_scaled_inside_the_network():
    torch.manual_seed(0)
    model = ActorCritic((4, 84, 84), Categorical(6), body="cnn", pixels=True)
    frames = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    plain = ActorCritic((4, 84, 84), Categorical(6), body="cnn", pixels=False)
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(frames)[1], plain(frames.float() / 255)[1])


def lstm_model(**kwargs) -> ActorCritic:
    torch.manual_seed(0)
    return tiny_model(lstm_size=16, **kwargs)


def test_sequence_replays_the_rollout_exactly_with_resets():
    model = lstm_model()
    T, N = 7, 3
    obs = torch.randn(T, N, 4)
    starts = torch.rand(T, N) < 0.3
    first = (torch.randn(N, 16), torch.randn(N, 16))
    state, logits, values = first, [], []
    for t in range(T):
        (lg,), v, state = model.step(obs[t], state, starts[t])
        logits.append(lg)
        values.append(v)
    (replayed,), replayed_values = model.sequence(obs, first, starts)
    torch.testing.assert_close(replayed, torch.cat(logits))
    torch.testing.assert_close(replayed_values, torch.cat(values))


def test_episode_start_resets_the_state_to_zeros():
    model = lstm_model()
    obs = torch.randn(2, 4)
    carried = (torch.randn(2, 16), torch.randn(2, 16))
    fresh = model.step(obs, model.initial_state(2))
    reset = model.step(obs, carried, torch.tensor([True, False]))
    torch.testing.assert_close(reset[1][0], fresh[1][0])  # row 0 starts afresh
    assert not torch.allclose(reset[1][1], fresh[1][1])  # row 1 remembers
    assert model.initial_state(3)[0].shape == (3, 16) and not model.initial_state(3)[0].any()


def test_backpropagation_runs_through_the_rollout_and_stops_at_episode_starts():
    model = lstm_model()
    T = 5
    obs = torch.randn(T, 1, 4, requires_grad=True)
    no_reset = torch.zeros(T, 1, dtype=torch.bool)
    _, values = model.sequence(obs, model.initial_state(1), no_reset)
    (grad,) = torch.autograd.grad(values[-1], obs)
    assert grad[0].abs().sum() > 0  # the last value depends on the first observation
    reset_at_2 = no_reset.clone()
    reset_at_2[2] = True
    _, values = model.sequence(obs, model.initial_state(1), reset_at_2)
    (grad,) = torch.autograd.grad(values[-1], obs)
    assert grad[:2].abs().sum() == 0 and grad[2:].abs().sum() > 0


def test_lstm_input_norm_feeds_the_lstm_unit_scale_features_whatever_their_size():
    """With ``lstm_input_norm`` the LSTM sees each row's features layer-normalised: a body whose
    output has grown a thousandfold feeds it the same input (it would saturate the gates)."""
    seen = []
    normed = lstm_model(lstm_input_norm=True)
    plain = lstm_model()
    for model in (normed, plain):
        model.lstm.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    obs = torch.randn(3, 4)
    for model in (normed, plain):
        model.step(obs)
        # the body's features grown 1000x, on a constant offset
        model.actor_body.register_forward_hook(lambda module, args, out: 1000.0 * out + 50.0)
        model.step(obs)
    normed_before, normed_after, plain_before, plain_after = seen
    torch.testing.assert_close(normed_before.mean(-1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        normed_before.std(-1, unbiased=False), torch.ones(3), atol=1e-3, rtol=0
    )
    torch.testing.assert_close(normed_after, normed_before, atol=1e-3, rtol=0)
    assert plain_after.abs().mean() > 100 * plain_before.abs().mean()
    assert {"lstm_norm.weight", "lstm_norm.bias"} <= set(normed.state_dict())
    assert not any(k.startswith("lstm_norm") for k in plain.state_dict())
    with pytest.raises(ValueError, match="add --lstm"):
        Config(lstm_input_norm=True).validate()


def test_lstm_needs_the_shared_trunk():
    with pytest.raises(ValueError, match="shared trunk"):
        lstm_model(shared_trunk=False)
    with pytest.raises(ValueError, match="shared trunk: add --shared-trunk"):
        Config(lstm=True, shared_trunk=False).validate()
    with pytest.raises(ValueError, match="shared trunk"):  # a preset's separate networks
        A3C("CartPole-v1", lstm=True)


def test_worker_carries_the_state_across_rollouts_and_resets_it_at_episode_starts(monkeypatch):
    config = Config(lstm=True, lstm_size=8, hidden_sizes=(8,), n_steps=3, total_steps=10_000)
    factory = EnvFactory("CartPole-v1")
    env = factory()
    model = build_model(config, env.observation_space, env.action_space)
    gm = SharedGlobalModel(
        model, [SharedRMSprop(list(model.parameters()))], 1e-3, "constant", 10_000
    )
    rollouts = []  # (first state, episode starts, state after the last step) of each rollout
    original_sequence = ActorCritic.sequence

    def recording_sequence(self, obs, state, episode_starts):
        with torch.no_grad():  # where the rollout's own steps left the state
            last = state
            for t in range(obs.shape[0]):
                last = self.step(obs[t], last, episode_starts[t])[2]
        rollouts.append((state, episode_starts.clone(), last))
        return original_sequence(self, obs, state, episode_starts)

    monkeypatch.setattr(ActorCritic, "sequence", recording_sequence)
    run_updates(config, gm, factory, 40)  # rollouts of 3 steps: several CartPole episodes end
    assert rollouts[0][1][0].all() and not rollouts[0][0][0].any()  # a fresh first episode
    carried = 0
    for (_, _, last), (first, _, _) in itertools.pairwise(rollouts):
        torch.testing.assert_close(first[0], last[0])  # the next rollout goes on from there
        carried += bool(first[0].any())
    episode_starts = sum(int(r[1][1:].sum()) for r in rollouts)
    assert carried == len(rollouts) - 1 and episode_starts >= 2


def small_lstm_agent(tmp_path) -> A3C:
    """A tiny LSTM agent on CartPole (whose preset has separate networks: an LSTM needs the
    shared trunk)."""
    return A3C(
        "CartPole-v1",
        lstm=True,
        shared_trunk=True,
        lstm_size=8,
        hidden_sizes=(8,),
        seed=0,
        run_dir=str(tmp_path),
    )


def test_predict_takes_and_returns_the_state_like_sb3(tmp_path):
    agent = small_lstm_agent(tmp_path)
    obs = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    action, state = agent.predict(obs, deterministic=True)
    assert action.shape == (3,)
    assert [s.shape for s in state] == [(1, 3, 8), (1, 3, 8)]
    _, again = agent.predict(obs, state=state, deterministic=True)
    assert not np.allclose(again[0], state[0])  # the state moved on
    _, restarted = agent.predict(obs, state=again, episode_start=np.ones(3, bool))
    np.testing.assert_allclose(restarted[0], state[0], atol=1e-6)  # as from a fresh start
    single, single_state = agent.predict(np.zeros(4, np.float32))
    assert np.ndim(single) == 0 and single_state[0].shape == (1, 1, 8)
    # feed-forward policies hand the state back untouched
    assert A3C("CartPole-v1", run_dir=str(tmp_path)).predict(obs)[1] is None


def test_lstm_policy_survives_save_and_load(tmp_path):
    agent = small_lstm_agent(tmp_path)
    agent.learn(total_steps=2_000)
    loaded = A3C.load(agent.save(tmp_path / "lstm.pt"))
    assert loaded.model.is_recurrent
    rng = np.random.default_rng(0)
    state_a = state_b = None
    for t in range(20):
        obs = rng.normal(size=(2, 4)).astype(np.float32)
        start = np.array([t == 0, t % 7 == 0])
        a, state_a = agent.predict(obs, state_a, start, deterministic=True)
        b, state_b = loaded.predict(obs, state_b, start, deterministic=True)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(state_a[0], state_b[0])


class BrightOrDark(gym.Env):
    """84x84 RGB frames, bright or dark at random; reward 1 for action 1 on a bright frame or 0
    on a dark one. Episodes of 6 steps end by time limit, so truncation's bootstrap runs too."""

    observation_space = gym.spaces.Box(0, 255, (84, 84, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._observe(), {}

    def _observe(self):
        self.bright = bool(self.np_random.integers(2))
        frame = np.full(self.observation_space.shape, 20, np.uint8)
        frame[: 42 if self.bright else 2] = 200  # not uniform: the convolutions' gradients differ
        return frame

    def step(self, action):
        reward = float(int(action) == int(self.bright))
        self.t += 1
        return self._observe(), reward, False, self.t >= 6, {}


class BrightOrDarkStack(BrightOrDark):
    """The same with 4 stacked 84x84 frames, channels first (as the Atari games come)."""

    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)


@pytest.mark.parametrize(
    "env, settings",
    [
        ("test_recurrent:BrightOrDark", {}),
        ("test_recurrent:BrightOrDark", dict(lstm=True, lstm_size=8)),
        (
            "test_recurrent:BrightOrDarkStack",
            dict(shared_trunk=False, normalize_obs=True, normalize_reward=True),
        ),
        ("space_envs:DictCue", {}),  # a CNN for its image part, an MLP after
    ],
    ids=["frames", "lstm", "stack-separate-critic-normalised", "structured"],
)
def test_a_cnn_worker_keeps_the_rollouts_graph_and_pushes_the_gradient_a_replay_would(
    env, settings
):
    """A CNN's update back-propagates through the rollout's own forward passes instead of a
    second, batched one: the gradients pushed are those of replaying the rollout, update by
    update (the LSTM's too, through its state across the rollout and its episode starts).
    Gradients unclipped, so that a path off by a factor could not be clipped to the same norm."""
    config = Config(
        n_steps=4, envs_per_worker=2, total_steps=10_000, max_grad_norm=None, **settings
    )
    module, name = env.split(":")
    make_env = getattr(importlib.import_module(module), name)

    def pushed_gradients(keep_graph: bool) -> list[list[torch.Tensor]]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("a3c.worker.keeps_rollout_graph", lambda model: keep_graph)
            if keep_graph:  # and never the replay
                patch.setattr(ActorCritic, "sequence", no_replay)
            return train_five_updates()

    def no_replay(*args, **kwargs):
        raise AssertionError("the update with the rollout's graph replayed the rollout")

    def train_five_updates() -> list[list[torch.Tensor]]:
        factory = EnvFactory(name, env_maker=env, make_env=make_env)
        probe = factory()
        torch.manual_seed(0)
        model = build_model(config, observation_space_of(probe), probe.action_space)
        assert keeps_rollout_graph(model)  # the library's own choice for this network (unpatched)
        pushed = []

        class Recording(SharedGlobalModel):
            def push(self, rank, grads, *args, **kwargs):
                pushed.append([g.clone() for g in grads])
                return super().push(rank, grads, *args, **kwargs)

        gm = Recording(model, [SharedRMSprop(list(model.parameters()))], 1e-3, "constant", 10_000)
        run_updates(config, gm, factory, 5)  # 40 steps: several episodes end inside rollouts
        return pushed

    kept, replayed = pushed_gradients(True), pushed_gradients(False)
    assert not keeps_rollout_graph(tiny_model())  # an MLP re-runs its rollout, batched
    assert len(kept) == len(replayed) == 5
    for kept_update, replayed_update in zip(kept, replayed, strict=True):
        assert sum(float(g.abs().sum()) for g in kept_update) > 0
        for g_kept, g_replayed in zip(kept_update, replayed_update, strict=True):
            # equal up to float sums taken in another order (per step against batched)
            scale = float(g_replayed.abs().max())
            torch.testing.assert_close(g_kept, g_replayed, rtol=1e-3, atol=1e-4 * scale)
