"""The ray backend: a local Ray trains CartPole to the threshold, a `ray start --head` node is
joined through --ray-address, a killed worker actor is replaced, and the pieces underneath."""

import copy
import json
import os
import pickle
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

from a3c import A3C  # noqa: E402
from a3c.backends.ray import (  # noqa: E402
    Packer,
    ParameterServer,
    RayGlobalModel,
    RayStopFlag,
    _pack_batch,
    _unpack_batch,
    modules_to_ship,
)
from a3c.checkpoint import load_checkpoint  # noqa: E402
from a3c.config import Config  # noqa: E402
from a3c.global_model import SharedGlobalModel  # noqa: E402
from a3c.trainer import build_model, build_optimizers  # noqa: E402

RAY = Path(sys.executable).parent / "ray"
TRAIN = [sys.executable, "-m", "a3c", "train", "--no-progress", "--backend", "ray"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_packer_round_trips_mixed_dtypes_and_shapes():
    tensors = [
        torch.randn(3, 4),
        torch.randn(5),
        torch.arange(6, dtype=torch.float64).reshape(2, 3),
        torch.tensor(7.0, dtype=torch.float64),
    ]
    arrays = Packer(tensors).unpack(Packer.pack(tensors))
    for tensor, array in zip(tensors, arrays, strict=True):
        assert array.dtype == tensor.numpy().dtype and array.shape == tuple(tensor.shape)
        np.testing.assert_array_equal(array, tensor.numpy())


@pytest.mark.filterwarnings("ignore:The given NumPy array is not writable")
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_an_observation_batch_travels_with_its_dtype(dtype):
    batch = torch.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5).to(dtype)
    unpacked = _unpack_batch(_pack_batch(batch))
    assert unpacked.dtype == dtype and torch.equal(unpacked, batch)


def test_the_server_merges_uint8_observations_into_the_normaliser():
    frames = gym.spaces.Box(0, 255, (2, 20, 20), np.uint8)
    config = Config(normalize_obs=True)
    model = build_model(config, frames, gym.spaces.Discrete(3))
    server = ParameterServer(model, build_optimizers(config, model), config, 0, 0)
    batch = np.random.default_rng(0).integers(0, 256, (8, 2, 20, 20), dtype=np.uint8)
    server.push(0, [(None, 8, _pack_batch(torch.from_numpy(batch)), 0, None)])
    obs_rms = server.shared.model.obs_rms
    assert obs_rms.count.item() == 8
    np.testing.assert_allclose(obs_rms.mean.numpy(), batch.mean(0), rtol=1e-15)
    np.testing.assert_allclose(obs_rms.var.numpy(), batch.astype(np.float64).var(0), rtol=1e-14)


def server_parts(tmp_path):
    """A CartPole preset's model, optimizers and config, and gradients for three pushes."""
    agent = A3C("CartPole-v1", run_dir=str(tmp_path), progress=False, tensorboard=False)
    torch.manual_seed(0)
    grads = [[torch.randn_like(p) for p in agent.model.parameters()] for _ in range(3)]
    return agent.model, build_optimizers(agent.config, agent.model), agent.config, grads


def reference_weights(model, config, grads):
    """The global state tensors (``state_tensors`` order) after applying ``grads`` one by one
    with the shared optimizer in this process."""
    model = copy.deepcopy(model)
    shared = SharedGlobalModel(
        model, build_optimizers(config, model), config.lr, config.lr_schedule, config.total_steps
    )
    for g in grads:
        shared.push(0, g, 40)
    return [t.detach().clone() for t in shared.model.state_tensors()]


def test_the_server_applies_the_pushes_of_one_call_one_by_one(tmp_path):
    model, optimizers, config, grads = server_parts(tmp_path)
    expected = reference_weights(model, config, grads)
    server = ParameterServer(model, optimizers, config, global_step=0, updates=0)
    # Three pushes computed from the same pull (0 updates seen), the second one rejected.
    pushes = [(Packer.pack(g), 40, None, 0, None) for g in grads]
    rejected = (None, 40, None, 0, None)
    weights, global_step, updates, _ = server.push(0, [pushes[0], rejected, *pushes[1:]])
    assert (global_step, updates) == (160, 3)
    # Each applied push saw the updates applied before it: lags 0, 1, 2 (the rejected one none).
    assert server.policy_lags() == {0: 1, 1: 1, 2: 1}
    arrays = Packer(model.state_tensors()).unpack(weights)
    assert len(arrays) == len(expected)
    for array, value in zip(arrays, expected, strict=True):
        np.testing.assert_array_equal(array, value.numpy())


def test_pushes_made_while_a_call_is_in_flight_travel_together_in_the_next(tmp_path, local_ray):
    model, optimizers, config, grads = server_parts(tmp_path)
    expected = reference_weights(model, config, grads)

    class SlowServer(ParameterServer):  # local: Ray pickles it by value
        def __init__(self, *args):
            super().__init__(*args)
            self.calls = []

        def push(self, rank, pushes):
            time.sleep(0.3)  # long enough that the pushes below are made meanwhile
            self.calls.append(len(pushes))
            return super().push(rank, pushes)

        def call_sizes(self):
            return self.calls

    server = ray.remote(SlowServer).remote(model, optimizers, config, 0, 0)
    try:
        global_model = RayGlobalModel(server, model, max_in_flight=3)
        local_model = global_model.new_local_model()
        global_model.pull(local_model)
        global_model.push(0, grads[0], 40)  # sent at once: no call in flight
        global_model.push(0, grads[1], 40)  # these two wait in the outbox
        global_model.push(0, grads[2], 40)
        # At the bound (3 pushes unanswered), pull waits for the first answer and sends the
        # outbox as one call; the weights it gives include the first push only.
        global_model.pull(local_model)
        after_first = reference_weights(model, config, grads[:1])
        for tensor, value in zip(local_model.state_tensors(), after_first, strict=True):
            assert torch.equal(tensor, value)
        global_model.flush()
        assert ray.get(server.call_sizes.remote()) == [1, 2]
        assert global_model.updates == 3 and global_model.global_step == 120
        global_model.pull(local_model)
        for tensor, value in zip(local_model.state_tensors(), expected, strict=True):
            assert torch.equal(tensor, value)
        # All three computed from the first pull, applied one by one: lags 0, 1 and 2.
        assert global_model.policy_lags() == {0: 1, 1: 1, 2: 1}
    finally:
        ray.kill(server)


def test_a_pull_with_no_answer_due_gets_the_servers_current_weights(tmp_path, local_ray):
    # The evaluator's view never pushes: its pulls must not keep copying its first weights.
    model, optimizers, config, grads = server_parts(tmp_path)
    server = ray.remote(ParameterServer).remote(model, optimizers, config, 0, 0)
    try:
        evaluator = RayGlobalModel(server, model, max_in_flight=4)
        worker = RayGlobalModel(server, model, max_in_flight=4)
        seen = evaluator.new_local_model()
        evaluator.pull(seen)
        local = worker.new_local_model()
        worker.pull(local)
        for g in grads:
            worker.push(0, g, 40)
        worker.flush()
        evaluator.pull(seen)
        weights = Packer(model.state_tensors()).unpack(ray.get(server.pull.remote())[0])
        expected = reference_weights(model, config, grads)
        for tensor, array, value in zip(seen.state_tensors(), weights, expected, strict=True):
            np.testing.assert_array_equal(tensor.detach().numpy(), array)
            assert torch.equal(tensor, value)
        assert not all(torch.equal(a, b) for a, b in zip(seen.parameters(), model.parameters()))
    finally:
        ray.kill(server)


def test_the_parameter_server_reserves_its_cpus_and_a_shortage_is_warned_of(tmp_path, local_ray):
    from a3c.backends.ray import RayBackend

    cores = os.cpu_count()
    agent = A3C(
        "CartPole-v1", run_dir=str(tmp_path), workers=cores, ray_server_cpus=1, backend="ray"
    )
    with pytest.warns(RuntimeWarning, match=f"1 for the parameter server need {cores + 1} CPUs"):
        backend = RayBackend(agent.config)
    try:
        optimizers = build_optimizers(agent.config, agent.model)
        global_model = backend.global_model(agent.model, optimizers, agent.config, 0, 0)
        assert global_model.updates == 0  # the server is up
        wait_for(
            lambda: ray.available_resources().get("CPU", 0) == cores - 1, 20, "one CPU reserved"
        )
    finally:
        backend.shutdown()
    assert ray.is_initialized()  # a Ray the backend did not start is left running
    wait_for(lambda: ray.available_resources().get("CPU", 0) == cores, 20, "the CPU given back")


def test_the_stop_flag_travels_as_the_actors_own():
    flag = RayStopFlag()
    flag.set()
    copy = pickle.loads(pickle.dumps(flag))
    assert flag.is_set() and not copy.is_set()  # the actor hears of it with its next call
    RayStopFlag._actor_event.set()
    try:
        assert copy.is_set()
    finally:
        RayStopFlag._actor_event.clear()


@pytest.mark.slow
def test_local_ray_trains_cartpole_past_300(tmp_path):
    # Past 300 (random play: 22), not Gymnasium's 475: half the time of this, CI's longest test;
    # the processes backend's learning tests take CartPole to 475.
    agent = A3C(
        "CartPole-v1",
        preset="CartPole-v1",
        backend="ray",
        run_dir=str(tmp_path),
        run_name="ray",
        progress=False,
        checkpoint_interval=50_000,
        stop_at_return=300.0,
        total_steps=1_000_000,  # the preset's 500k is short for Ray's policy lag under CI load
    ).learn()
    summary = agent.summary
    # Reached: the chronological last-100 mean crossed 300 (episodes still running when the
    # stop went out may end lower).
    assert summary.solved_step is not None and summary.best_mean_last100 >= 300
    lag = summary.policy_lag
    assert lag is not None and sum(lag["histogram"].values()) == summary.updates
    # The final checkpoint holds the parameter server's state, which the agent now has too.
    saved = load_checkpoint(tmp_path / "ray" / "checkpoints" / "final.pt")
    assert saved["global_step"] == summary.global_step and saved["updates"] == summary.updates
    for name, value in agent.model.state_dict().items():
        assert torch.equal(value, saved["model"][name]), name
    assert not ray.is_initialized()  # the backend shut down the Ray it started


def test_successive_evaluations_on_ray_score_the_current_weights(tmp_path, local_ray):
    # Greedy evaluations on the same seeds: with the first weights every time, every row the
    # evaluator writes would be the same. A slow lr: at the preset's, CartPole is solved before
    # the evaluator's first game and every evaluation scores 500 whatever weights it plays.
    A3C(
        "CartPole-v1",
        preset="CartPole-v1",
        lr=1e-4,
        backend="ray",
        run_dir=str(tmp_path),
        run_name="r",
        progress=False,
        tensorboard=False,
        total_steps=30_000,
        stop_at_return=None,
        eval_interval=3_000,
        eval_episodes=3,
    ).learn()
    rows = (tmp_path / "r" / "eval.csv").read_text().splitlines()[1:-1]  # the last: the trainer's
    assert len(rows) >= 3
    assert len({row.split(",", 2)[2] for row in rows}) >= 2  # returns, stds and lengths


def test_the_users_own_modules_are_shipped_and_installed_ones_are_not(tmp_path, monkeypatch):
    (tmp_path / "own_pkg" / "envs").mkdir(parents=True)
    (tmp_path / "own_pkg" / "__init__.py").write_text("")
    (tmp_path / "own_pkg" / "envs" / "__init__.py").write_text("")
    (tmp_path / "own_file.py").write_text("")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "link_pkg").symlink_to(tmp_path / "own_pkg")
    monkeypatch.syspath_prepend(str(tmp_path / "linked"))
    monkeypatch.syspath_prepend(str(tmp_path))
    package, single = str(tmp_path / "own_pkg"), str(tmp_path / "own_file.py")
    # The whole top-level package, whichever of its modules registers the environments.
    assert modules_to_ship("own_pkg.envs") == [package]
    assert modules_to_ship("own_file") == [single]
    # Shipped under the name it is imported by, not its target's.
    assert modules_to_ship("link_pkg") == [str(tmp_path / "linked" / "link_pkg")]
    for installed in ("gymnasium", "gymnasium.envs.classic_control", "json", "sys", "math"):
        assert modules_to_ship(installed) == [], installed
    assert modules_to_ship(None, "", "no_such_module_here", "__main__") == []
    # --env-module, the id's module and the env maker's: each place once.
    assert modules_to_ship("own_pkg", "own_pkg.envs", None) == [package]
    assert modules_to_ship("own_file", "own_pkg.envs", "own_file") == [single, package]


SHIPPED_ENVS = """import gymnasium

gymnasium.register(
    "ShippedCartPole-v0",
    entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv",
    max_episode_steps=500,
)
"""

# Joins the cluster and says where `shipped_envs` can be imported: here, and in a Ray task.
FIND_ON_CLUSTER = """import importlib.util, sys, ray
ray.init(address=sys.argv[1], include_dashboard=False)
def found():
    return importlib.util.find_spec("shipped_envs") is not None
print("driver", found(), "task", ray.get(ray.remote(found).remote()))
"""


@pytest.mark.slow
def test_a_head_node_is_joined_through_ray_address(tmp_path):
    """A head node with token authentication, as `ray start` runs one where a token exists:
    joined under RAY_AUTH_MODE=token, as Ray's own tools join it, and refused without, with the
    way out said. The token is the test's own, and RAY_AUTH_MODE is set here: an earlier
    in-process Ray (which sets RAY_AUTH_MODE in os.environ) or a ~/.ray/auth_token changes
    nothing.

    The run's environment is registered by an ``--env-module`` that the driver imports from its
    PYTHONPATH and the head node's workers cannot import (checked: as on another machine of a
    cluster): it trains because the module is shipped to them."""
    port = free_port()
    token = secrets.token_hex(32)
    unset = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "PYTHONPATH")
    base = {k: v for k, v in os.environ.items() if k not in unset}
    env = dict(base, RAY_ADDRESS="", RAY_AUTH_TOKEN=token, RAY_AUTH_MODE="token")
    (tmp_path / "modules" / "shipped_envs").mkdir(parents=True)
    (tmp_path / "modules" / "shipped_envs" / "__init__.py").write_text(SHIPPED_ENVS)
    elsewhere = tmp_path / "elsewhere"  # the driver's working directory, which Ray's workers get
    elsewhere.mkdir()
    driver_env = dict(env, PYTHONPATH=str(tmp_path / "modules"))
    started = subprocess.run(
        [
            str(RAY),
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--num-cpus",
            "2",
            "--include-dashboard",
            "false",
            "--disable-usage-stats",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert started.returncode == 0, started.stderr
    train = [
        *TRAIN,
        "ShippedCartPole-v0",
        "--env-module",
        "shipped_envs",
        "--ray-address",
        f"127.0.0.1:{port}",
        "--total-steps",
        "30000",
        "--eval-interval",
        "10000",
        "--run-dir",
        str(tmp_path),
        "--run-name",
        "joined",
    ]
    try:
        no_mode = {k: v for k, v in driver_env.items() if k != "RAY_AUTH_MODE"}
        refused = subprocess.run(
            train, capture_output=True, text=True, timeout=300, env=no_mode, cwd=elsewhere
        )
        assert refused.returncode == 2, refused.stderr
        assert "cannot join the Ray cluster" in refused.stderr
        assert "set RAY_AUTH_MODE=token where a3c runs" in refused.stderr
        found = subprocess.run(
            [sys.executable, "-c", FIND_ON_CLUSTER, f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=120,
            env=driver_env,
            cwd=elsewhere,
        )
        assert "driver True task False" in found.stdout, found.stderr
        run = subprocess.run(
            train, capture_output=True, text=True, timeout=300, env=driver_env, cwd=elsewhere
        )
        assert run.returncode == 0, run.stderr
        assert f"joined the Ray cluster at 127.0.0.1:{port} (1 node(s), 2 CPUs)" in run.stderr
        shipped = tmp_path / "modules" / "shipped_envs"
        assert f"ray backend: shipping {shipped} to the cluster's workers" in run.stderr
        summary = json.loads((tmp_path / "joined" / "summary.json").read_text())
        assert summary["global_step"] >= 30_000 and summary["policy_lag"] is not None
        # The driver left; the head node stays up for the next job.
        status = subprocess.run(
            [str(RAY), "status", "--address", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert status.returncode == 0 and "2.0 CPU" in status.stdout, status.stdout
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=120, env=env)


def processes_named(prefix):
    """Pids of the live processes whose command line starts with ``prefix`` (Ray names its
    actor processes ``ray::<class>``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(prefix):
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def task_actors():
    return processes_named(b"ray::_TaskActor")


@pytest.mark.slow
def test_a_killed_worker_actor_is_replaced_and_the_run_finishes(tmp_path):
    run = tmp_path / "r"
    proc = subprocess.Popen(
        [
            *TRAIN,
            "CartPole-v1",
            "--total-steps",
            "80000",  # the kill lands about 1 s after the first updates: a few thousand steps
            "--stop-at-return",
            "none",
            "--eval-interval",
            "0",
            "--run-dir",
            str(tmp_path),
            "--run-name",
            "r",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(task_actors()) == 2, 120, "two worker actors")
        wait_for(lambda: (run / "updates.csv").exists(), 60, "the first updates")
        time.sleep(1.0)
        os.kill(task_actors()[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "failed (ActorDiedError)" in err and "restart 1 of 3" in err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["restarts"] == 1 and summary["global_step"] >= 80_000
    rows = (run / "updates.csv").read_text().splitlines()[1:]
    assert {row.split(",")[2] for row in rows} == {"0", "1"}


@pytest.mark.slow
def test_a_dead_parameter_server_ends_the_run_with_its_last_checkpointed_state(tmp_path):
    run = tmp_path / "r"
    command = [
        *TRAIN,
        "CartPole-v1",
        "--total-steps",
        "5000000",
        "--stop-at-return",
        "none",
        "--checkpoint-interval",
        "10000",
        "--eval-interval",
        "0",
        "--run-dir",
        str(tmp_path),
        "--run-name",
        "r",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(
            lambda: len(list((run / "checkpoints").glob("step_*.pt"))) >= 2, 120, "checkpoints"
        )
        (server,) = processes_named(b"ray::ParameterServer")
        os.kill(server, signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    # Whoever notices first (the driver or a worker) stops the run: no restart would help.
    assert "failed (BackendError)" in err and "the parameter server died" in err
    assert "restart 1 of" not in err
    newest = max((run / "checkpoints").glob("step_*.pt"))
    final = load_checkpoint(run / "checkpoints" / "final.pt")
    assert final["global_step"] == load_checkpoint(newest)["global_step"]
    resumed = subprocess.run(
        [*TRAIN, "--resume", str(run), "--total-steps", str(final["global_step"] + 10_000)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr


def test_the_server_merges_discounted_returns_into_the_reward_normaliser():
    config = Config(normalize_reward=True)
    model = build_model(config, gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2))
    server = ParameterServer(model, build_optimizers(config, model), config, 0, 0)
    returns = torch.tensor([1.0, -2.0, 3.5, 0.25])
    server.push(0, [(None, 4, None, 0, _pack_batch(returns))])
    return_rms = server.shared.model.return_rms
    assert return_rms.count.item() == 4
    assert return_rms.mean.item() == pytest.approx(returns.double().mean().item(), rel=1e-15)
    assert return_rms.var.item() == pytest.approx(returns.double().var(unbiased=False).item())
