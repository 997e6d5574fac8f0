"""Resuming and training on: the learning-rate schedule continues, the summary covers the whole
run, a finished run is left as it is, and summary.json is strict JSON."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import read_rows, small_run

from a3c import A3C
from a3c.config import load_preset

FIXTURES = Path(__file__).parent / "fixtures"


def small(tmp_path, **kw):
    return small_run(
        tmp_path,
        **{
            "backend": "sync",
            "total_steps": 2_000,
            "eval_interval": 0,
            "checkpoint_interval": 0,
            "run_name": "run",
            **kw,
        },
    )


def strict_json(path):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(Path(path).read_text(), parse_constant=refuse)


def lrs_after(run, step):
    return [float(r["lr"]) for r in read_rows(run / "updates.csv") if int(r["global_step"]) > step]


def test_training_on_continues_a_linear_schedule_instead_of_stretching_it_anew(tmp_path):
    agent = A3C("CartPole-v1", **small(tmp_path, lr=1e-3, lr_schedule="linear"))
    agent.learn(total_steps=2_000)
    end = agent.global_step
    assert agent.config.lr_anneal_steps == 2_000  # fixed by the first training
    agent.learn(total_steps=2_000)  # 2,000 more steps: the schedule had reached 0 and stays there
    after = lrs_after(agent.run_dir, end)
    assert after and max(after) == 0.0


def test_resume_with_more_steps_continues_the_schedule_and_says_why(tmp_path):
    run = tmp_path / "run"
    A3C("CartPole-v1", **small(tmp_path, lr=1e-3, lr_schedule="linear")).learn()
    rows = read_rows(run / "updates.csv")
    last_step, last_lr = int(rows[-1]["global_step"]), float(rows[-1]["lr"])
    assert 0.0 <= last_lr < 1e-4
    with pytest.warns(RuntimeWarning, match="reaches 0 at step 2,000 .*set lr_anneal_steps"):
        A3C.resume(run, total_steps=6_000).learn()
    # Before the fix the first update after the resume had 1e-3 * (1 - 2000/6000): a jump up.
    assert lrs_after(run, last_step)[0] <= last_lr

    # An explicit horizon given on resume is taken as given.
    A3C.resume(run, total_steps=8_000, lr_anneal_steps=16_000).learn()
    assert min(lrs_after(run, 6_100)) > 0.0


def test_a_resumed_run_reports_the_whole_run(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("A3C_TEST_CRASH_MARKER", str(tmp_path / "crashed"))
    settings = small(tmp_path, env_module="custom_envs", total_steps=3_000)
    first = A3C("CrashOnce-v0", **settings).learn()
    assert first.summary.restarts == 1  # the one crash, in the first segment
    first_wall = first.summary.wall_time

    resumed = A3C.resume(first.run_dir, total_steps=6_000)
    resumed.learn()
    summary = strict_json(first.run_dir / "summary.json")
    rows = read_rows(first.run_dir / "episodes.csv")
    returns = np.array([float(r["return"]) for r in rows])
    steps = {int(r["global_step"]) for r in rows}
    assert min(steps) <= 3_000 < max(steps)  # both segments are in the log
    assert summary["episodes"] == len(rows)
    assert summary["mean_last100"] == pytest.approx(returns[-100:].mean())
    rolling = [returns[i - 100 : i].mean() for i in range(100, len(returns) + 1)]
    assert summary["best_mean_last100"] == pytest.approx(max(rolling))
    assert summary["restarts"] == 1  # counted across segments
    assert summary["wall_time"] > first_wall and summary["global_step"] >= 6_000


def test_resuming_a_finished_run_changes_nothing(tmp_path):
    run = tmp_path / "run"
    A3C("CartPole-v1", **small(tmp_path, eval_interval=1_000, eval_episodes=2)).learn()
    names = ["summary.json", "eval.csv", "episodes.csv", "updates.csv", "config.json"]
    before = {name: (run / name).read_bytes() for name in names}
    final = (run / "checkpoints" / "final.pt").read_bytes()

    with pytest.warns(UserWarning, match="at step 2,0.. of its total_steps 2,000: nothing to"):
        summary = A3C.resume(run).learn().summary
    assert summary.to_dict() == strict_json(run / "summary.json")
    assert {name: (run / name).read_bytes() for name in names} == before
    assert (run / "checkpoints" / "final.pt").read_bytes() == final

    done = subprocess.run(
        [sys.executable, "-m", "a3c", "train", "--resume", str(run), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "nothing to train" in done.stderr
    assert {name: (run / name).read_bytes() for name in names} == before


def test_resuming_a_solved_run_keeps_its_solved_step(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    settings = small(
        tmp_path,
        env_module="custom_envs",
        total_steps=200_000,
        stop_at_return=5.5,  # TwoStep pays up to 10 an episode; a learning policy gets there
        stop_window=20,
        lr=3e-3,
    )
    first = A3C("TwoStep-v0", **settings).learn()
    solved = first.summary.solved_step
    assert solved is not None and first.global_step < 200_000
    before = (first.run_dir / "summary.json").read_text()
    rows = len(read_rows(first.run_dir / "episodes.csv"))

    with pytest.warns(UserWarning, match="reached its stop_at_return"):
        A3C.resume(first.run_dir, total_steps=400_000).learn()
    assert (first.run_dir / "summary.json").read_text() == before
    assert len(read_rows(first.run_dir / "episodes.csv")) == rows


def test_summary_json_is_strict_json_before_any_episode_ends(tmp_path):
    # Pendulum's episodes last 200 steps: none ends in 100.
    agent = A3C("Pendulum-v1", **small(tmp_path, total_steps=100, envs_per_worker=1)).learn()
    summary = strict_json(agent.run_dir / "summary.json")
    assert summary["episodes"] == 0
    assert summary["mean_last100"] is None and summary["best_mean_last100"] is None


def test_resume_repairs_a_row_cut_short_and_an_updates_log_of_an_older_a3c(tmp_path):
    from a3c.monitor import UPDATE_FIELDS

    run = tmp_path / "run"
    A3C("CartPole-v1", **small(tmp_path)).learn()
    episodes = run / "episodes.csv"
    episodes.write_text(episodes.read_text()[:-4])  # a full disk cut the last row short
    updates = run / "updates.csv"
    old = read_rows(updates)
    header = [f for f in UPDATE_FIELDS if f != "episodes"]  # written before the column existed
    updates.write_text(
        "\n".join([",".join(header), *(",".join(row[f] for f in header) for row in old)]) + "\n"
    )

    A3C.resume(run, total_steps=4_000).learn()
    lines = [line.split(",") for line in episodes.read_text().splitlines()]
    assert all(len(line) == 5 for line in lines)
    assert json.loads((run / "summary.json").read_text())["episodes"] == len(lines) - 1
    rows = read_rows(updates)
    assert list(rows[0]) == list(UPDATE_FIELDS) and len(rows) > len(old)
    lr = load_preset("CartPole-v1")["lr"]  # the largest the schedule gives
    assert all(None not in row and 0.0 <= float(row["lr"]) <= lr for row in rows)
    assert [row["steps"] for row in rows[: len(old)]] == [row["steps"] for row in old]


def test_a_run_killed_after_solving_but_before_its_final_checkpoint_trains_on(
    tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(str(FIXTURES))
    settings = small(
        tmp_path,
        env_module="custom_envs",
        total_steps=200_000,
        stop_at_return=5.5,
        stop_window=20,
        lr=3e-3,
        checkpoint_interval=100,
    )
    first = A3C("TwoStep-v0", **settings).learn()
    solved = first.summary.solved_step
    folder = first.run_dir / "checkpoints"
    # As if the trainer was killed after solving, before any checkpoint at or after that step.
    for path in folder.glob("*.pt"):
        if path.name == "final.pt" or int(path.stem.split("_")[1]) >= solved:
            path.unlink()
    resumed = A3C.resume(first.run_dir)
    start = resumed.global_step
    assert start < solved
    resumed.learn()  # before: "reached its stop_at_return", nothing trained, no final.pt
    assert (folder / "final.pt").exists()
    summary = strict_json(first.run_dir / "summary.json")
    assert summary["solved_step"] > start  # solved again: what came after the checkpoint is gone
    steps = [int(row["global_step"]) for row in read_rows(first.run_dir / "episodes.csv")]
    assert max(steps) <= summary["global_step"]


def test_a_checkpoint_from_before_lr_anneal_steps_says_its_schedule_is_stretched(tmp_path):
    import torch

    from a3c.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "run"
    A3C("CartPole-v1", **small(tmp_path, lr_schedule="linear")).learn()
    final = run / "checkpoints" / "final.pt"
    data = load_checkpoint(final)
    del data["config"]["lr_anneal_steps"]  # as an older a3c saved it
    save_checkpoint({k: v for k, v in data.items() if k not in ("format", "version")}, final)
    with pytest.warns(RuntimeWarning, match="predates lr_anneal_steps"):
        A3C.resume(run, total_steps=3_000).learn()
    assert torch.load(final, weights_only=True)["config"]["lr_anneal_steps"] == 3_000
