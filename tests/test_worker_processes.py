"""What a worker process sets up for itself before it runs its task: one intra-op thread, and a
malloc that keeps the memory of freed tensors (not the user's process: that is left alone)."""

import os
import subprocess
import sys
import textwrap

import torch
from helpers import small_run

from a3c import A3C
from a3c.backends import base

UPDATES = textwrap.dedent(
    """
    import resource, sys
    import gymnasium as gym, numpy as np, torch
    from a3c.backends.base import keep_freed_memory
    from a3c.config import resolve_config
    from a3c.trainer import build_model

    torch.set_num_threads(1)
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    model = build_model(resolve_config("PongNoFrameskip-v4"), space, gym.spaces.Discrete(6))
    frames = torch.randint(0, 256, (5, 8, 4, 84, 84), dtype=torch.uint8)

    def update():  # a Pong worker's update: five steps of 8 games, their graphs kept
        loss = sum(model.step(frames[t])[1].sum() for t in range(5))
        model.zero_grad(set_to_none=True)
        loss.backward()

    for _ in range(10):  # the heap grows to what an update needs
        update()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        update()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
    """
)


def page_faults_per_update(malloc: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", UPDATES, malloc], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def test_a_worker_that_keeps_freed_memory_stops_faulting_its_tensors_pages_in_every_update():
    returned, kept = page_faults_per_update("default"), page_faults_per_update("keep")
    # The CNN's dense layer alone frees and reallocates 2.6 MB of gradient per step.
    assert returned > 200, returned
    assert kept < returned / 5, (kept, returned)  # 0-22 against 270-660 here


def test_every_worker_process_sets_itself_up_and_the_users_process_is_left_alone(
    tmp_path, monkeypatch
):
    marks = tmp_path / "marks"
    marks.mkdir()

    def keep_freed_memory() -> bool:  # the forked workers inherit this stand-in
        (marks / str(os.getpid())).write_text(str(torch.get_num_threads()))
        return True

    monkeypatch.setattr(base, "keep_freed_memory", keep_freed_memory)
    settings = small_run(tmp_path / "run", eval_interval=0, checkpoint_interval=0)
    agent = A3C("CartPole-v1", **{**settings, "start_method": "fork"})
    agent.learn()
    pids = {int(p.name) for p in marks.iterdir()}
    assert len(pids) == 2 and os.getpid() not in pids
    assert {p.read_text() for p in marks.iterdir()} == {"1"}  # one thread, set first
