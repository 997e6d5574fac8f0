import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import run_updates, tiny_model

from a3c.config import Config
from a3c.distributions import Categorical, DiagGaussian, make_distribution
from a3c.envs import EnvFactory
from a3c.global_model import SharedGlobalModel
from a3c.networks import ActorCritic, RunningMeanStd, image_layout, smallest_frame
from a3c.shared_optim import SharedRMSprop
from a3c.trainer import build_model, check_bfloat16


def test_running_mean_std_merges_batches_exactly():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 3)) for n in (1, 7, 50, 13)]
    rms = RunningMeanStd((3,))
    for b in batches:
        rms.update(torch.as_tensor(b))
    data = np.concatenate(batches)
    np.testing.assert_allclose(rms.mean.numpy(), data.mean(0), rtol=1e-10)
    np.testing.assert_allclose(rms.var.numpy(), data.var(0), rtol=1e-10)
    assert rms.count.item() == len(data)


def test_normaliser_is_identity_before_updates_and_clips_after():
    rms = RunningMeanStd((2,), clip=5.0)
    x = torch.tensor([[1.0, -2.0]])
    torch.testing.assert_close(rms(x), x, atol=1e-6, rtol=0)
    rms.update(torch.zeros(10, 2))
    assert rms(torch.tensor([[1e6, -1e6]])).tolist() == [[5.0, -5.0]]


def test_normaliser_statistics_are_saved_with_the_weights():
    model = tiny_model(normalize_obs=True)
    model.obs_rms.update(torch.randn(20, 4) + 5)
    assert {"obs_rms.mean", "obs_rms.var", "obs_rms.count"} <= set(model.state_dict())


@pytest.mark.parametrize("std_mode", ["softplus", "state_independent", "sde"])
def test_gaussian_head_respects_bounds_and_std_floor(std_mode):
    model = tiny_model(discrete=False, std_mode=std_mode, min_std=0.05, init_log_std=-20.0)
    (mean, std), value = model(torch.randn(64, 4) * 100)
    assert mean.abs().max() <= 2.0 and std.min() >= 0.05 - 1e-7
    assert value.shape == (64,)


@pytest.mark.parametrize("lstm", [False, True])
def test_a_beta_head_gives_each_action_entry_an_alpha_and_a_beta_of_at_least_one(lstm):
    """A (2, 3) Box: six entries, each with its own alpha and beta (1 + softplus: unimodal),
    a uniform-ish start (the head's small init: both near 1 + log 2), and actions inside the
    bounds in the space's shape; the recurrent model's replay gives the same parameters."""
    space = gym.spaces.Box(-2.0, 3.0, (2, 3), np.float32)
    dist = make_distribution(space, "beta")
    model = ActorCritic((4,), dist, (8,), lstm_size=5 if lstm else None)
    obs = torch.randn(3, 5, 4)
    state = model.initial_state(5) if lstm else ()
    (alpha, beta), values = model.sequence(obs, state, torch.zeros(3, 5, dtype=torch.bool))
    assert alpha.shape == beta.shape == (15, 6) and values.shape == (15,)
    assert alpha.min() >= 1 and beta.min() >= 1
    torch.testing.assert_close(alpha, torch.full_like(alpha, 1 + np.log(2)), atol=0.05, rtol=0)
    (step_alpha, _), _, _ = model.step(obs[0], state)
    torch.testing.assert_close(step_alpha, alpha[:5])
    actions = dist.to_env(dist.sample((alpha, beta)))
    assert all(a.shape == (2, 3) and space.contains(a) for a in actions)


def test_beta_refuses_gsde_and_names_the_way_out():
    with pytest.raises(ValueError, match="std_mode 'state_independent'"):
        Config(env_id="Pendulum-v1", box_distribution="beta", std_mode="sde").validate()


def gsde_model() -> ActorCritic:
    space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    model = ActorCritic((4,), make_distribution(space), (8,), std_mode="sde", init_log_std=-1.0)
    with torch.no_grad():  # a different std for each weight
        model.log_std.add_(torch.linspace(-0.5, 0.5, model.log_std.numel()).view_as(model.log_std))
    return model


def test_gsde_noise_is_the_features_times_a_matrix_drawn_per_row_and_rollout():
    model = gsde_model()
    obs = torch.randn(3, 4)
    features = model.actor_body(model._features(obs))
    (mean, std), _ = model(obs)  # no matrices drawn: the normal with gSDE's marginal std
    # each action is a sum of features times independent N(0, sigma^2) weights
    variance = features.pow(2) @ (2 * model.log_std).exp()
    torch.testing.assert_close(std**2, variance + model.min_std**2)

    model.reset_noise(3, torch.Generator().manual_seed(0))
    (mean_1, std_1, noise), _ = model(obs)
    torch.testing.assert_close((mean_1, std_1), (mean, std))
    for row in range(3):
        torch.testing.assert_close(noise[row], features[row] @ model.exploration[row])
    action = model.distribution.sample((mean_1, std_1, noise))
    torch.testing.assert_close(action, mean + noise)
    # the same matrices until the next draw: the same state gets the same action
    torch.testing.assert_close(model(obs)[0][2], noise)
    model.reset_noise(3, torch.Generator().manual_seed(1))
    assert not torch.allclose(model(obs)[0][2], noise)
    # another batch size (the update's T * N rows) gets the marginal only
    assert len(model(torch.randn(6, 4))[0]) == 2
    assert not any("exploration" in key for key in model.state_dict())


def test_gsde_noise_has_the_std_its_log_prob_scores():
    model = gsde_model()
    obs = torch.randn(1, 4).expand(20_000, 4)
    model.reset_noise(20_000, torch.Generator().manual_seed(0))
    (_, std, noise), _ = model(obs)
    torch.testing.assert_close(noise.std(0), std[0], rtol=0.03, atol=0)
    assert (noise.mean(0).abs() < 0.03 * std[0]).all()


def test_gsde_trains_the_std_matrix_and_the_mean_not_the_features_through_the_std():
    model = gsde_model()
    obs = torch.randn(5, 4)
    (mean, std), _ = model(obs)
    model.distribution.entropy((mean, std)).sum().backward()  # depends on the std alone
    assert model.log_std.grad is not None and model.log_std.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.actor_body.parameters())
    model.zero_grad()
    actions = torch.zeros(5, 2)
    model.distribution.log_prob(model(obs)[0], actions).sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in model.actor_body.parameters())


def test_gsde_std_has_a_finite_gradient_where_every_feature_is_zero():
    model = gsde_model()
    actor = torch.zeros(2, 8)  # dead ReLUs, say
    actor[1] = 1.0
    _, std = model._dist_params(actor)
    std.log().sum().backward()
    assert torch.isfinite(model.log_std.grad).all()
    assert std[0].tolist() == pytest.approx([model.min_std] * 2)


@pytest.mark.parametrize("lstm", [False, True], ids=["mlp", "lstm"])
def test_the_worker_draws_gsde_noise_at_each_rollout_start_and_acts_with_it(monkeypatch, lstm):
    """Each rollout's first step follows a fresh draw, and every step's noise is that step's
    features times the rollout's matrices (an LSTM's update keeps the rollout's graph)."""
    config = Config(std_mode="sde", hidden_sizes=(8,), n_steps=4, envs_per_worker=3)
    if lstm:
        config = Config(**{**vars(config), "lstm": True, "lstm_size": 8, "shared_trunk": True})
    factory = EnvFactory("Pendulum-v1")
    env = factory()
    model = build_model(config, env.observation_space, env.action_space)
    gm = SharedGlobalModel(model, [SharedRMSprop(list(model.parameters()))], 1e-3, "constant", 1)
    events = []
    reset_noise, dist_params = ActorCritic.reset_noise, ActorCritic._dist_params
    sample = DiagGaussian.sample

    def recording_reset(self, rows, generator=None):
        reset_noise(self, rows, generator)
        events.append(("draw", self.exploration))

    def recording_dist_params(self, actor):
        params = dist_params(self, actor)
        if len(params) == 3:
            events.append(("noise", (actor.detach(), self.exploration, params[2].detach())))
        return params

    def recording_sample(self, params, generator=None):
        events.append(("act", len(params)))
        return sample(self, params, generator)

    monkeypatch.setattr(ActorCritic, "reset_noise", recording_reset)
    monkeypatch.setattr(ActorCritic, "_dist_params", recording_dist_params)
    monkeypatch.setattr(DiagGaussian, "sample", recording_sample)
    run_updates(config, gm, factory, 3)
    acting = [kind if kind == "draw" else (kind, data) for kind, data in events if kind != "noise"]
    assert acting == ["draw", *[("act", 3)] * 4] * 3  # every action got its rollout's noise
    draws = [data for kind, data in events if kind == "draw"]
    assert all(d.shape == (3, 8, 1) for d in draws)
    assert not torch.equal(draws[0], draws[1])
    current, checked = None, 0
    for kind, data in events:
        if kind == "draw":
            current = data
        elif kind == "noise":
            features, matrices, noise = data
            assert matrices is current
            torch.testing.assert_close(noise, torch.bmm(features.unsqueeze(1), current).squeeze(1))
            checked += 1
    assert checked >= 12


def test_separate_actor_and_critic_have_their_own_parameters():
    model = tiny_model(shared_trunk=False, value_hidden_sizes=(5,))
    value_ids = {id(p) for p in model.value_parameters()}
    assert {id(p) for p in model.critic_body.parameters()} <= value_ids
    assert not value_ids & {id(p) for p in model.actor_body.parameters()}
    # the critic's gradient does not reach the actor body
    model(torch.randn(3, 4))[1].sum().backward()
    assert all(p.grad is None for p in model.actor_body.parameters())


def test_no_hidden_layers_make_the_policy_linear_in_the_observations():
    # Swimmer's preset: a linear Gaussian policy beside an MLP critic.
    config = Config(
        hidden_sizes=(),
        value_hidden_sizes=(16,),
        shared_trunk=False,
        normalize_obs=False,
        gaussian_mean="linear",
    ).validate()
    obs_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    model = build_model(config, obs_space, gym.spaces.Box(-1.0, 1.0, (2,), np.float32))
    assert not list(model.actor_body.parameters())
    assert [p.shape for p in model.critic_body.parameters()] == [(16, 3), (16,)]
    x = torch.randn(5, 3) * 10
    (mean, _), value = model(x)
    head = model.policy_head
    torch.testing.assert_close(mean, x @ head.weight.T + head.bias)
    assert value.shape == (5,)


def test_normalised_uint8_frames_are_seen_in_raw_units():
    # The workers gather the statistics from raw 0..255 frames: the body must see
    # (frame - mean) / std in those units, not the frame scaled to [0, 1] minus a raw mean.
    model = ActorCritic((2, 20, 20), Categorical(3), body="cnn", pixels=True, normalize_obs=True)
    global_model = SharedGlobalModel(
        model, [SharedRMSprop(list(model.parameters()))], 1e-3, "constant", 100
    )
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (8, 2, 20, 20), dtype=np.uint8)
    global_model.push(0, None, 8, torch.from_numpy(batch))
    seen = []
    model.actor_body.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    frames = rng.integers(0, 256, (2, 2, 20, 20), dtype=np.uint8)
    model(torch.from_numpy(frames))
    mean, var = batch.astype(np.float64).mean(0), batch.astype(np.float64).var(0)
    std = np.sqrt(var + 1e-8)
    expected = (frames.astype(np.float32) - mean.astype(np.float32)) / std.astype(np.float32)
    np.testing.assert_array_equal(seen[0].numpy(), np.clip(expected, -10, 10))
    assert (seen[0][0] - seen[0][1]).abs().mean() > 0.5  # two frames look different


def test_the_pixel_normaliser_starts_as_the_scaling_it_replaces():
    model = ActorCritic((2, 20, 20), Categorical(3), body="cnn", pixels=True, normalize_obs=True)
    plain = ActorCritic((2, 20, 20), Categorical(3), body="cnn", pixels=True)
    plain.load_state_dict(model.state_dict(), strict=False)
    frames = torch.randint(0, 256, (3, 2, 20, 20), dtype=torch.uint8)
    torch.testing.assert_close(model(frames)[1], plain(frames)[1])


def test_running_mean_std_merges_only_finite_rows():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 3)) for n in (5, 8, 13)]
    batches[0][1, 2] = np.inf
    batches[1][[0, 4], 0] = [np.nan, -np.inf]
    batches[2][:, 1] = np.nan  # no finite row at all
    rms, reference = RunningMeanStd((3,)), RunningMeanStd((3,))
    for b in batches:
        rms.update(torch.as_tensor(b))
        reference.update(torch.as_tensor(b[np.isfinite(b).all(axis=1)]))
    finite = np.concatenate([b[np.isfinite(b).all(axis=1)] for b in batches])
    assert rms.count.item() == len(finite) == 5 + 8 - 3
    for name in ("mean", "var", "count"):
        assert torch.equal(getattr(rms, name), getattr(reference, name)), name
    np.testing.assert_allclose(rms.mean.numpy(), finite.mean(0), rtol=1e-12)
    np.testing.assert_allclose(rms.var.numpy(), finite.var(0), rtol=1e-12)


def test_image_normaliser_drops_frames_with_a_non_finite_pixel():
    rms = RunningMeanStd((2, 2))
    frames = torch.arange(12.0).reshape(3, 2, 2)
    frames[1, 0, 1] = float("inf")
    rms.update(frames)
    kept = frames[[0, 2]].double()
    assert rms.count.item() == 2
    assert torch.equal(rms.mean, kept.mean(0)) and torch.equal(rms.var, kept.var(0, unbiased=False))


@pytest.mark.parametrize(
    "shape, layout",
    [
        ((4, 84, 84), "channels_first"),
        ((3, 64, 64), "channels_first"),
        ((1, 84, 84), "channels_first"),
        ((84, 84, 3), "channels_last"),
        ((210, 160, 3), "channels_last"),
        ((84, 84, 1), "channels_last"),
        ((84, 84), "single_channel"),
        ((4,), None),
        ((2, 3, 4, 5), None),
    ],
)
def test_image_layout_is_decided_from_the_shape(shape, layout):
    assert image_layout(shape) == layout
    assert image_layout(shape, np.uint8) == layout
    assert image_layout(shape, np.float32) is None  # 'auto' gives it an MLP


@pytest.mark.parametrize("normalize_obs", [False, True])
def test_channel_last_frames_are_read_as_their_channel_first_transpose(normalize_obs):
    config = Config(normalize_obs=normalize_obs)
    actions = gym.spaces.Discrete(4)
    last = build_model(config, gym.spaces.Box(0, 255, (84, 84, 3), np.uint8), actions)
    first = build_model(config, gym.spaces.Box(0, 255, (3, 84, 84), np.uint8), actions)
    assert last.body == first.body == "cnn"
    frames = torch.randint(0, 256, (5, 84, 84, 3), dtype=torch.uint8)
    transposed = frames.permute(0, 3, 1, 2)
    state = {k: v for k, v in first.state_dict().items() if not k.startswith("obs_rms")}
    last.load_state_dict(state, strict=False)
    if normalize_obs:  # statistics in each observation's own layout
        last.obs_rms.update(frames)
        first.obs_rms.update(transposed)
        assert last.obs_rms.mean.shape == (84, 84, 3)
    (logits_last,), value_last = last(frames)
    (logits_first,), value_first = first(transposed)
    assert torch.equal(logits_last, logits_first) and torch.equal(value_last, value_first)


def test_a_single_frame_gets_a_one_channel_cnn():
    actions = gym.spaces.Discrete(6)
    frame = build_model(Config(), gym.spaces.Box(0, 255, (84, 84), np.uint8), actions)
    assert frame.body == "cnn" and frame.actor_body[0].in_channels == 1
    stack = build_model(Config(), gym.spaces.Box(0, 255, (1, 84, 84), np.uint8), actions)
    stack.load_state_dict(frame.state_dict())
    frames = torch.randint(0, 256, (3, 84, 84), dtype=torch.uint8)
    (logits,), value = frame(frames)
    assert logits.shape == (3, 6) and value.shape == (3,)
    assert torch.equal(value, stack(frames.unsqueeze(1))[1])


@pytest.mark.parametrize("shape", [(8, 8), (7, 7, 3), (3, 10, 10), (19, 84)])
def test_small_uint8_grids_get_an_mlp_and_a_cnn_on_them_says_why(shape):
    space, actions = gym.spaces.Box(0, 255, shape, np.uint8), gym.spaces.Discrete(4)
    model = build_model(Config(), space, actions)  # boards and mazes are no frames for a CNN
    assert model.body == "mlp"
    (logits,), _ = model(torch.as_tensor(space.sample()[None]))
    assert logits.shape == (1, 4)
    with pytest.raises(ValueError, match=r"at least 20x20 pixels.*--network mlp"):
        build_model(Config(network="cnn"), space, actions)


def test_the_smallest_frames_each_cnn_takes():
    actions = gym.spaces.Discrete(2)
    for network, side in (("cnn", 20), ("nature_cnn", 36)):
        assert smallest_frame(network) == side
        ok = build_model(
            Config(network=network), gym.spaces.Box(0, 255, (side, side), np.uint8), actions
        )
        assert ok(torch.zeros(1, side, side, dtype=torch.uint8))[1].shape == (1,)
        with pytest.raises(ValueError, match=f"at least {side}x{side}"):
            build_model(
                Config(network=network), gym.spaces.Box(0, 255, (side - 1, side), np.uint8), actions
            )
    assert smallest_frame("elu_cnn") == 1  # padded 3x3 convolutions take any frame
    tiny = build_model(Config(network="elu_cnn"), gym.spaces.Box(0, 255, (1, 1), np.uint8), actions)
    assert tiny(torch.zeros(1, 1, 1, dtype=torch.uint8))[1].shape == (1,)


@pytest.mark.parametrize("network", ["cnn", "nature_cnn"])
def test_a_bfloat16_cnn_computes_in_bfloat16_and_keeps_float32_weights_and_gradients(network):
    torch.manual_seed(0)
    space, actions = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), gym.spaces.Discrete(6)
    exact = build_model(Config(network=network), space, actions)
    mixed = build_model(Config(network=network, cnn_precision="bfloat16"), space, actions)
    mixed.load_state_dict(exact.state_dict())  # the same keys: checkpoints load at either
    computed_in = []
    for layer in mixed.actor_body:
        if isinstance(layer, torch.nn.Conv2d | torch.nn.Linear):
            layer.register_forward_hook(lambda module, inputs, out: computed_in.append(out.dtype))
    generator = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (8, 4, 84, 84), dtype=torch.uint8, generator=generator)

    def gradients(model: ActorCritic) -> list[torch.Tensor]:
        (logits,), value = model(frames)
        assert logits.dtype == value.dtype == torch.float32  # the heads and the loss: float32
        model.zero_grad()
        (logits.logsumexp(-1).mean() + value.pow(2).mean()).backward()
        return [p.grad for p in model.parameters()]

    exact_grads, mixed_grads = gradients(exact), gradients(mixed)
    assert computed_in and set(computed_in) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in mixed.parameters())
    rounded = 0
    for g_exact, g_mixed in zip(exact_grads, mixed_grads, strict=True):
        assert g_mixed.dtype == torch.float32
        # bfloat16 keeps 8 bits of mantissa: a layer's gradient is off by 1-8% of its norm
        # (depending on the weights), never equal
        assert float((g_mixed - g_exact).norm() / g_exact.norm()) < 0.1
        rounded += not torch.equal(g_mixed, g_exact)
    assert rounded == len(exact_grads)


def test_an_unknown_cnn_precision_is_refused():
    with pytest.raises(ValueError, match="cnn_precision"):
        Config(cnn_precision="float16").validate()


@pytest.mark.parametrize("kernels", [True, False])
def test_a_bfloat16_cnn_on_a_cpu_without_bfloat16_kernels_is_warned_of(monkeypatch, kernels):
    space, actions = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), gym.spaces.Discrete(6)
    mixed = build_model(Config(cnn_precision="bfloat16"), space, actions)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: kernels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_bfloat16(mixed)
        check_bfloat16(build_model(Config(), space, actions))  # float32: nothing to say
    messages = [str(w.message) for w in caught]
    if kernels:
        assert messages == []
    else:
        assert len(messages) == 1 and "slower than in float32" in messages[0]


def test_pull_and_snapshot_read_the_statistics_only_between_merges():
    """A pull or a checkpoint that comes while a push merges the statistics (under the counter
    lock) waits for the merge, so it never takes a new mean with an old variance."""
    import threading

    model = ActorCritic((4,), Categorical(2), normalize_obs=True)
    global_model = SharedGlobalModel(
        model,
        [SharedRMSprop(list(model.parameters()))],
        1e-3,
        "constant",
        100,
        counter_lock=threading.Lock(),
    )
    local_model = global_model.new_local_model()
    done: dict[str, object] = {}
    with global_model.counter_lock:  # a merge half done: the mean written, not yet the var
        model.obs_rms.mean.fill_(5.0)
        readers = [
            threading.Thread(
                target=lambda: done.setdefault("pull", global_model.pull(local_model))
            ),
            threading.Thread(target=lambda: done.setdefault("snapshot", global_model.snapshot())),
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout=0.3)
        assert not done and all(reader.is_alive() for reader in readers)  # they wait
        model.obs_rms.var.fill_(9.0)
    for reader in readers:
        reader.join(timeout=10)
    assert set(done) == {"pull", "snapshot"}
    assert torch.all(local_model.obs_rms.mean == 5.0) and torch.all(local_model.obs_rms.var == 9.0)
    saved = done["snapshot"].model  # type: ignore[attr-defined]
    assert torch.all(saved["obs_rms.mean"] == 5.0) and torch.all(saved["obs_rms.var"] == 9.0)
