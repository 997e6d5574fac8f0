"""Faults during training: signals, non-finite updates, an unwritable run directory."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from a3c import A3C
from a3c.checkpoint import load_checkpoint
from a3c.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def children_of(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def training_command(tmp_path, *options):
    return [
        sys.executable,
        "-m",
        "a3c",
        "train",
        "CartPole-v1",
        "--total-steps",
        "100000000",
        "--stop-at-return",
        "none",
        "--run-dir",
        str(tmp_path),
        "--run-name",
        "r",
        "--no-progress",
        "--eval-interval",
        "20000",
        *options,
    ]


def wait_for_episodes(tmp_path, timeout=60):
    episodes = tmp_path / "r" / "episodes.csv"
    deadline = time.time() + timeout
    while time.time() < deadline and not (episodes.exists() and episodes.stat().st_size > 500):
        time.sleep(0.2)
    time.sleep(1.0)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_with_checkpoint_flushed_logs_and_no_children(tmp_path, sig, code):
    proc = subprocess.Popen(
        training_command(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for_episodes(tmp_path)
    episodes = tmp_path / "r" / "episodes.csv"
    workers = children_of(proc.pid)
    assert len(workers) >= 3  # two workers and the evaluator
    sent = time.time()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert time.time() - sent < 10
    assert proc.returncode == code
    assert f"resume with: a3c train --resume {tmp_path / 'r'}" in err
    assert not [pid for pid in workers if alive(pid)]
    saved = load_checkpoint(tmp_path / "r" / "checkpoints" / "final.pt")
    rows = episodes.read_text().splitlines()
    assert saved["global_step"] > 0 and len(rows) > 1
    assert int(rows[-1].split(",")[1]) <= saved["global_step"]  # logs flushed to the end
    assert (
        json.loads((tmp_path / "r" / "summary.json").read_text())["global_step"]
        == (saved["global_step"])
    )
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "a3c",
            "train",
            "--resume",
            str(tmp_path / "r"),
            "--total-steps",
            str(saved["global_step"] + 2000),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr


def test_consecutive_non_finite_updates_stop_the_run_with_finite_weights(tmp_path, monkeypatch):
    from a3c.trainer import TrainingError

    monkeypatch.syspath_prepend(str(FIXTURES))
    agent = A3C(
        "NanReward-v0",
        env_module="custom_envs",
        backend="sync",
        workers=2,
        max_bad_updates=5,
        total_steps=100_000,
        run_dir=str(tmp_path),
        run_name="nan",
        progress=False,
        tensorboard=False,
        eval_interval=0,
    )
    before = [p.detach().clone() for p in agent.model.parameters()]
    with pytest.raises(TrainingError, match="5 consecutive non-finite updates"):
        agent.learn()
    saved = load_checkpoint(tmp_path / "nan" / "checkpoints" / "final.pt")
    weights = [v for k, v in saved["model"].items() if not k.startswith("obs_rms")]
    assert all(torch.isfinite(w).all() for w in weights)
    for old, new in zip(before, agent.model.parameters()):
        assert torch.equal(old, new.detach())  # skipped, never applied
    assert saved["updates"] == 0 and saved["global_step"] > 0


def test_unwritable_run_directory_is_an_error_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = main(["train", "CartPole-v1", "--run-dir", str(blocker), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write the run directory" in err and "Traceback" not in err


def assert_stopped_as_documented(run, err):
    """What a single SIGINT/SIGTERM gives: the resume hint, a final checkpoint, the summary and
    the curve, and no failure."""
    assert f"resume with: a3c train --resume {run}" in err
    assert "Traceback" not in err and "failed" not in err
    assert not (run / "failures.log").exists()
    saved = load_checkpoint(run / "checkpoints" / "final.pt")
    assert json.loads((run / "summary.json").read_text())["global_step"] == saved["global_step"]
    assert (run / "learning_curve.png").stat().st_size > 0


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_the_whole_process_group_stops_like_a_single_one(tmp_path, sig, code):
    proc = subprocess.Popen(
        training_command(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a job under a shell or SLURM
    )
    wait_for_episodes(tmp_path)
    workers = children_of(proc.pid)
    assert len(workers) >= 3  # two workers and the evaluator, in the group
    assert all(os.getpgid(pid) == proc.pid for pid in workers)
    os.killpg(proc.pid, sig)  # kill -SIG -PGID: every process of the group gets it
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert_stopped_as_documented(tmp_path / "r", err)
    assert not [pid for pid in workers if alive(pid)]


def test_gnu_timeout_stops_a_run_like_a_single_sigterm(tmp_path):
    # timeout(1) sends SIGTERM to the command and then to its whole process group: the trainer
    # gets it twice, the workers once.
    done = subprocess.run(
        ["timeout", "-s", "TERM", "12", *training_command(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 124  # timeout's own code: it timed out
    assert_stopped_as_documented(tmp_path / "r", done.stderr)


def end_a_run_during_an_evaluation(tmp_path, monkeypatch, backend):
    from a3c.backends import Backend

    monkeypatch.syspath_prepend(str(FIXTURES))
    # An evaluation of one 5,000-step episode takes over 5 s; the run ends during the first one.
    monkeypatch.setattr(Backend, "stop_timeout", 1.0)
    agent = A3C(
        "SlowEpisodes-v0",
        env_module="custom_envs",
        backend=backend,
        workers=2,
        total_steps=3_000,
        eval_interval=500,
        eval_episodes=1,
        checkpoint_interval=0,
        progress=False,
        tensorboard=False,
        run_dir=str(tmp_path),
        run_name="slow",
    )
    summary = agent.learn().summary  # the old evaluator timed out: TrainingError
    assert summary.global_step >= 3_000 and summary.final_eval_mean is not None
    assert not (tmp_path / "slow" / "failures.log").exists()


def test_a_run_that_ends_during_an_evaluation_is_not_a_failure(tmp_path, monkeypatch):
    end_a_run_during_an_evaluation(tmp_path, monkeypatch, "processes")


def test_a_run_on_ray_that_ends_during_an_evaluation_is_not_a_failure(
    tmp_path, monkeypatch, local_ray
):
    # Ray's workers find the fixture module through the PYTHONPATH local_ray gives them.
    end_a_run_during_an_evaluation(tmp_path, monkeypatch, "ray")


def test_evaluate_policy_takes_a_gymnasium_env_like_stable_baselines3(tmp_path):
    import gymnasium as gym

    from a3c import evaluate_policy

    agent = A3C("CartPole-v1", backend="sync", total_steps=2_000, progress=False)
    env = gym.make("CartPole-v1")
    mean, std = evaluate_policy(agent, env, n_episodes=3, seed=5)
    # Deterministic policy, the same seeds: the same episodes as on the agent's own factory.
    assert (mean, std) == evaluate_policy(agent, "CartPole-v1", n_episodes=3, seed=5)
    env.reset()  # the caller's env is left open
    env.close()
    with pytest.raises(TypeError, match=r"Gymnasium id, an EnvFactory or a gym\.Env"):
        evaluate_policy(agent, 42)


def test_stable_baselines3s_names_for_the_budget_and_the_episodes_are_taken(tmp_path):
    import gymnasium as gym

    from a3c import evaluate_policy

    agent = A3C("CartPole-v1", backend="sync", workers=1, progress=False, run_dir=str(tmp_path))
    agent.learn(total_timesteps=1_000)
    assert 1_000 <= agent.global_step < 1_100  # one update of 8 envs x 5 steps past it at most
    with pytest.raises(TypeError, match="not both"):
        agent.learn(1_000, total_timesteps=1_000)
    env = gym.make("CartPole-v1")
    one = evaluate_policy(agent, env, n_eval_episodes=1, seed=5)
    assert one == evaluate_policy(agent, env, n_episodes=1, seed=5) and one[1] == 0.0
    assert evaluate_policy(agent, env, n_eval_episodes=4, seed=5) == evaluate_policy(
        agent, env, n_episodes=4, seed=5
    )
    env.close()


@pytest.fixture
def small_filesystem(tmp_path):
    """A 1 MiB tmpfs (as root); skipped where this process may not mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_run_with_one_line_and_the_last_checkpoint_intact(
    small_filesystem,
):
    # 50 kB checkpoints every 5,000 steps fill 1 MiB within seconds.
    done = subprocess.run(
        [
            *training_command(small_filesystem)[:-2],
            "--checkpoint-interval",
            "5000",
            "--eval-interval",
            "20000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("a3c: error:")]
    assert "No space left on device" in line
    newest = Path(line.split("the newest complete checkpoint is ")[1])
    assert newest.parent == small_filesystem / "r" / "checkpoints"
    assert load_checkpoint(newest)["global_step"] >= 5_000
    assert list(newest.parent.glob(".*.tmp")) == []  # no partial file left behind


def test_a_checkpoint_write_failing_with_enospc_leaves_the_previous_one_loadable(
    tmp_path, monkeypatch
):
    import errno

    import a3c.checkpoint
    from a3c.trainer import TrainingError

    writes = []
    real_fdopen = os.fdopen

    class FullDisk:  # the third checkpoint file gets half its bytes, then ENOSPC
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            writes.append(len(data))
            if len(writes) >= 3:
                self.f.write(bytes(data)[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(
        a3c.checkpoint.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode))
    )
    agent = A3C(
        "CartPole-v1",
        backend="sync",
        total_steps=100_000,
        checkpoint_interval=1_000,
        eval_interval=0,
        progress=False,
        tensorboard=False,
        run_dir=str(tmp_path),
        run_name="r",
    )
    with pytest.raises(TrainingError, match=r"cannot write a checkpoint .*No space left on device"):
        agent.learn()
    folder = tmp_path / "r" / "checkpoints"
    saved = sorted(folder.glob("step_*.pt"))
    assert len(saved) == 2 and all(load_checkpoint(p)["global_step"] > 0 for p in saved)
    assert list(folder.glob(".*.tmp")) == [] and not (folder / "final.pt").exists()
