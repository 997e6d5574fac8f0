"""Shared optimizers: equal to torch.optim in one process; statistics really shared; updates from
two processes both land; the gradient hand-off never aliases or accumulates (seed 003's bug)."""

import multiprocessing

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import tiny_model
from torch import nn

from a3c.config import resolve_config
from a3c.global_model import SharedGlobalModel
from a3c.shared_optim import SharedAdam, SharedRMSprop, SharedRMSpropTF
from a3c.trainer import build_model, build_optimizers
from a3c.worker import local_gradients


def grads_sequence(params, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(p.shape, generator=g) for p in params] for _ in range(steps)]


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (
            lambda ps: SharedRMSprop(ps, alpha=0.95, eps=1e-3),
            lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.95, eps=1e-3),
        ),
        (
            lambda ps: SharedAdam(ps, betas=(0.8, 0.99), eps=1e-6),
            lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6),
        ),
    ],
)
def test_single_process_update_equals_torch_optim(ours, theirs):
    torch.manual_seed(0)
    a = nn.Linear(5, 3)
    b = nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    opt_a = ours(list(a.parameters())).share_memory()
    opt_b = theirs(list(b.parameters()))
    for grads in grads_sequence(list(a.parameters()), steps=25):
        opt_a.step(list(a.parameters()), grads, lr=0.01)
        for p, g in zip(b.parameters(), grads):
            p.grad = g.clone()
        opt_b.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=1e-7)


def test_paper_form_rmsprop_matches_its_equation_by_hand():
    # g <- alpha g + (1 - alpha) grad^2, from g = 1; theta <- theta - lr grad / sqrt(g + eps)
    param = torch.tensor([1.0, -2.0])
    opt = SharedRMSpropTF([param], alpha=0.9, eps=0.1).share_memory()
    assert opt.state["square_avg"][0].tolist() == [1.0, 1.0] and opt.is_shared()
    g = [1.0, 1.0]
    theta = [1.0, -2.0]
    for grad in ([2.0, 0.5], [-1.0, 3.0]):
        g = [0.9 * gi + 0.1 * x**2 for gi, x in zip(g, grad)]
        theta = [t - 0.01 * x / (gi + 0.1) ** 0.5 for t, x, gi in zip(theta, grad, g)]
        opt.step([param], [torch.tensor(grad)], lr=0.01)
        torch.testing.assert_close(opt.state["square_avg"][0], torch.tensor(g))
        torch.testing.assert_close(param, torch.tensor(theta))


def test_seed_pendulum_preset_is_tf1_rmsprop_as_in_seed_000():
    """Seed 000 uses tf.train.RMSPropOptimizer(lr) per worker thread (decay 0.9, momentum 0,
    epsilon 1e-10, statistics from 1): the preset's optimizers take TF1's update exactly, actor
    at 1e-4 and critic at 1e-3 (issue 13: the preset used PyTorch's form)."""
    config = resolve_config("Pendulum-v1", preset="seed-pendulum")
    assert (config.optimizer, config.rms_alpha, config.optim_eps) == ("rmsprop_tf", 0.9, 1e-10)
    env = gym.make("Pendulum-v1")
    torch.manual_seed(0)
    model = build_model(config, env.observation_space, env.action_space)
    optimizers = build_optimizers(config, model)
    assert len(optimizers) == 4 and all(type(o) is SharedRMSpropTF for o in optimizers)
    params = list(model.parameters())
    critic = {id(p) for p in model.value_parameters()}
    lrs = [1e-3 if id(p) in critic else 1e-4 for p in params]
    assert 1e-3 in lrs and 1e-4 in lrs

    # TF1's ApplyRMSProp, in float64: ms += (g^2 - ms) (1 - rho); mom = mom momentum + lr g /
    # sqrt(ms + epsilon); var -= mom
    var = [p.detach().double().numpy().copy() for p in params]
    ms = [np.ones_like(v) for v in var]
    mom = [np.zeros_like(v) for v in var]
    for grads in grads_sequence(params, steps=5):
        optimizers[0].step(params, grads, lr=config.lr)
        for i, g in enumerate(grads):
            g = g.double().numpy()
            ms[i] += (g * g - ms[i]) * (1 - 0.9)
            mom[i] = mom[i] * 0.0 + lrs[i] * g / np.sqrt(ms[i] + 1e-10)
            var[i] -= mom[i]
    for p, v in zip(params, var):
        np.testing.assert_allclose(p.detach().numpy(), v, rtol=1e-6, atol=1e-7)


def test_per_parameter_learning_rate_scales():
    p, q = torch.zeros(2), torch.zeros(2)
    opt = SharedRMSprop([p, q], lr_scales=[1.0, 10.0])
    opt.step([p, q], [torch.ones(2), torch.ones(2)], lr=0.001)
    torch.testing.assert_close(q, 10 * p)


@pytest.mark.parametrize("cls", [SharedRMSprop, SharedAdam])
def test_statistics_are_in_shared_memory(cls):
    model = tiny_model()
    opt = cls(list(model.parameters()))
    assert not opt.is_shared()
    opt.share_memory()
    assert opt.is_shared()
    assert all(t.is_shared() for ts in opt.state.values() for t in ts)


def _push_from_child(global_model, coordinate, steps, order_lock, order):
    params = global_model.params
    for _ in range(steps):
        grads = [torch.zeros_like(p) for p in params]
        grads[0].view(-1)[coordinate] = 1.0
        with order_lock:  # record the order in which the updates land, to replay it
            global_model.push(rank=0, grads=grads, steps=1)
            order[int(order[-1])] = coordinate
            order[-1] += 1


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_updates_from_two_processes_both_land(start_method):
    ctx = multiprocessing.get_context(start_method)
    model = tiny_model()
    before = model.actor_body[0].weight.detach().clone()
    params = list(model.parameters())
    optimizer = SharedRMSprop(params, alpha=0.9, eps=1e-8)
    gm = SharedGlobalModel(
        model,
        [optimizer],
        0.01,
        "constant",
        10_000,
        counter_lock=ctx.Lock(),
        update_lock=ctx.Lock(),
    )
    order = torch.zeros(15, dtype=torch.int64).share_memory_()  # 14 slots and a count
    order_lock = ctx.Lock()
    children = [
        ctx.Process(target=_push_from_child, args=(gm, c, 7, order_lock, order)) for c in (0, 1)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert int(order[-1]) == 14 and sorted(order[:14].tolist()) == [0] * 7 + [1] * 7
    # Reference: the same 14 updates replayed in one process in the order they landed. (They do
    # not commute: every RMSprop step decays the squared average, zero gradients included.)
    ref_param = before.clone()
    ref_opt = SharedRMSprop([ref_param], alpha=0.9, eps=1e-8)
    for c in order[:14].tolist():
        g = torch.zeros_like(ref_param)
        g.view(-1)[c] = 1.0
        ref_opt.step([ref_param], [g], lr=0.01)
    after = model.actor_body[0].weight.detach()
    torch.testing.assert_close(after, ref_param)  # both processes' updates are in the weights
    assert int(optimizer.step_count) == 14  # shared step count saw both processes
    assert gm.global_step == 14 and gm.updates == 14
    torch.testing.assert_close(optimizer.state["square_avg"][0], ref_opt.state["square_avg"][0])


def test_seed_003_handoff_accumulates_on_torch_2_but_ours_does_not():
    """The trap: ``global._grad = local.grad`` then ``optimizer.zero_grad()`` on the *global*
    parameters sets them to None and leaves the local grads to accumulate across updates."""
    torch.manual_seed(0)
    local = nn.Linear(3, 1)
    glob = nn.Linear(3, 1)
    x1, x2 = torch.randn(4, 3), torch.randn(4, 3)

    def loss(x):
        return local(x).pow(2).mean()

    # seed 003's pattern
    optimizer = torch.optim.SGD(glob.parameters(), lr=0.0)
    for x in (x1, x2):
        optimizer.zero_grad()
        loss(x).backward()
        for gp, lp in zip(glob.parameters(), local.parameters()):
            gp._grad = lp.grad
        optimizer.step()
    fresh = torch.autograd.grad(loss(x2), list(local.parameters()))
    handed = [p.grad for p in glob.parameters()]
    assert not torch.allclose(handed[0], fresh[0])  # stale: g(x1) + g(x2)

    # ours: what the worker hands to push() is the gradient of this rollout alone
    params = list(local.parameters())
    local_gradients(loss(x1), params)
    ours = local_gradients(loss(x2), params)
    for mine, ref in zip(ours, fresh):
        torch.testing.assert_close(mine, ref)


def test_push_never_touches_global_grad_attribute():
    model = tiny_model()
    gm = SharedGlobalModel(model, [SharedAdam(list(model.parameters()))], 1e-3, "constant", 100)
    local = gm.new_local_model()
    x = torch.randn(3, 4)
    params = list(local.parameters())
    grads = local_gradients(local(x)[1].sum(), params)
    gm.push(0, grads, steps=3)
    assert all(p.grad is None for p in model.parameters())
    # and the local model's weights are not the global ones (no aliasing)
    assert all(lp.data_ptr() != gp.data_ptr() for lp, gp in zip(params, model.parameters()))


def test_linear_schedule_reaches_zero():
    model = tiny_model()
    gm = SharedGlobalModel(model, [SharedRMSprop(list(model.parameters()))], 0.1, "linear", 1000)
    assert gm.learning_rate() == pytest.approx(0.1)
    gm.set_counters(250, 0)
    assert gm.learning_rate() == pytest.approx(0.075)
    gm.set_counters(1000, 0)
    assert gm.learning_rate() == 0.0


def test_load_state_dict_keeps_sharing_and_rejects_wrong_shapes():
    model = tiny_model()
    opt = SharedAdam(list(model.parameters())).share_memory()
    state = opt.state_dict()
    state["exp_avg"][0] += 1.0
    opt.load_state_dict(state)
    assert opt.is_shared()
    torch.testing.assert_close(opt.state["exp_avg"][0], state["exp_avg"][0])
    state["exp_avg"][0] = torch.zeros(99)
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(state)


def _hammer(global_model, pushes):
    torch.set_num_threads(1)
    grads = [torch.full_like(p, 1e-6) for p in global_model.params]
    for _ in range(pushes):
        global_model.push(rank=0, grads=grads, steps=1)


def test_hogwild_pushes_lose_no_optimizer_step():
    # Adam's bias correction reads the shared step count; Hogwild updates (no update lock) must
    # not lose its increments. One weight keeps each update short, so that many processes are in
    # the increment at once: the unlocked `step_count += 1` lost some in each of 8 runs of this
    # test on the old code (1 to 1,600 of 320,000); the old push replayed on 2026-12-06 lost some
    # in each of 18 runs of 16 x 5,000 pushes (3 to 717), so 16 x 10,000 are made here.
    ctx = multiprocessing.get_context("fork")
    model = nn.Linear(1, 1, bias=False)
    optimizer = SharedAdam(list(model.parameters()))
    global_model = SharedGlobalModel(
        model, [optimizer], 1e-3, "constant", 10**9, counter_lock=ctx.Lock()
    )
    processes, pushes = 16, 10_000
    children = [ctx.Process(target=_hammer, args=(global_model, pushes)) for _ in range(processes)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
        assert child.exitcode == 0
    assert global_model.updates == processes * pushes
    assert int(optimizer.step_count) == processes * pushes
