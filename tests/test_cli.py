"""The command line end to end, as a user runs it (a subprocess per command)."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from a3c.cli import build_parser, main
from a3c.config import Config


def a3c(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "a3c", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_config_field_is_an_option_with_help():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    options = {a.dest: a for a in train._actions}
    for field in dataclasses.fields(Config):
        if field.name in ("env_id", "preset"):
            continue
        assert field.name in options, field.name
        assert field.metadata["help"] in options[field.name].help


def test_options_parse_to_config_types(tmp_path):
    args = build_parser().parse_args(
        [
            "train",
            "CartPole-v1",
            "--hidden-sizes",
            "32,16",
            "--no-shared-trunk",
            "--max-grad-norm",
            "none",
            "--lr",
            "0.01",
            "--workers",
            "3",
        ]
    )
    assert (args.hidden_sizes, args.shared_trunk, args.max_grad_norm, args.lr, args.workers) == (
        (32, 16),
        False,
        None,
        0.01,
        3,
    )
    assert not hasattr(args, "gamma")  # untouched options do not override presets


def test_train_eval_plot_resume(tmp_path):
    common = [
        "--run-dir",
        tmp_path,
        "--run-name",
        "cp",
        "--workers",
        "2",
        "--no-progress",
        "--eval-interval",
        "2000",
        "--eval-episodes",
        "2",
        "--checkpoint-interval",
        "2000",
    ]
    out = a3c("train", "CartPole-v1", "--total-steps", "4000", *common, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    run = tmp_path / "cp"
    assert summary["global_step"] >= 4000 and Path(summary["run_dir"]) == run
    config = json.loads((run / "config.json").read_text())
    assert config["preset"] == "CartPole-v1" and config["total_steps"] == 4000
    assert list((run / "tb").iterdir()), "TensorBoard event files"

    out = a3c("eval", run / "checkpoints" / "final.pt", "--episodes", "3", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert len(result["returns"]) == 3 and result["mean_return"] > 0

    out = a3c("train", "--resume", run, "--total-steps", "8000", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["global_step"] >= 8000
    assert "resuming" in out.stderr

    other = tmp_path / "other"
    out = a3c(
        "train",
        "CartPole-v1",
        "--preset",
        "seed-cartpole",
        "--total-steps",
        "2000",
        "--run-dir",
        tmp_path,
        "--run-name",
        "other",
        "--no-progress",
        "--workers",
        "2",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    out = a3c("plot", run, other, "--out", tmp_path / "both.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "both.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "CartPle-v1"], "unknown environment 'CartPle-v1'; did you mean CartPole-v1"),
        (["train", "CartPole-v1", "--gamma", "1.5"], "gamma=1.5"),
        (["train", "CartPole-v1", "--preset", "nope"], "unknown preset 'nope'"),
        (["train", "CartPole-v1", "--preset", "seed-pendulum"], "is for 'Pendulum-v1'"),
    ],
)
def test_bad_input_is_one_line_without_traceback(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_presets_command_lists_descriptions(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "seed-cartpole" in out and "Seed 003" in out
