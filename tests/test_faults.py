"""Faults during training: signals, non-finite updates, an unwritable run directory."""

import json
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


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_with_checkpoint_flushed_logs_and_no_children(tmp_path, sig, code):
    proc = subprocess.Popen(
        [
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
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    episodes = tmp_path / "r" / "episodes.csv"
    deadline = time.time() + 60
    while time.time() < deadline and not (episodes.exists() and episodes.stat().st_size > 500):
        time.sleep(0.2)
    time.sleep(1.0)
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
