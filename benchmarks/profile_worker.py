"""Where one A3C worker's time goes: the environment, the forward passes, backward, the
optimizer, the copies between the local and the global model.

    python -m benchmarks.profile_worker --env PongNoFrameskip-v4 --steps 40000
    python -m benchmarks.profile_worker --env PongNoFrameskip-v4 --steps 40000 --atari-vector false

One worker (the ``sync`` backend, in this process, set up as a worker process is: one intra-op
thread, freed memory kept) trains the env's preset for ``--steps`` agent steps under cProfile.
The worker loop's parts are read from the profile as the cumulative time of the functions that
do them; what no part names (the rollout's bookkeeping, returns, logging) is "the rest". cProfile
adds a little to every Python call, so the shares are of a slightly slowed run; the steps/s
printed is of that run.
Writes JSON to benchmarks/results/ and prints a table.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.report import RESULTS, machine, measured, save_results

WORKER = ("a3c/worker.py", "run_worker")
ANY = ("", "")  # from any caller

# part -> the calls it is made of: (callee's file, callee), called from (caller's file, caller).
# Counting calls from the worker loop alone keeps nested calls (the update's forward pass runs
# the network's ``step``; Breakout's FIRE wrapper has a ``step``) from being counted twice.
PARTS: dict[str, list[tuple[tuple[str, str], tuple[str, str]]]] = {
    "environment step (emulator + preprocessing)": [
        (("a3c/envs.py", "step"), WORKER),
        (("a3c/ale_vector.py", "step"), WORKER),
    ],
    "rollout forward passes (policy and value; a CNN's keep their graph for the update)": [
        (("a3c/networks.py", "step"), WORKER),
        (("a3c/networks.py", "value"), WORKER),
    ],
    "action sampling": [(("a3c/distributions.py", "sample"), WORKER)],
    "update forward pass (an MLP re-runs the rollout with grad) and loss": [
        (("a3c/networks.py", "sequence"), WORKER),
        (("a3c/losses.py", "a3c_loss"), WORKER),
        (("a3c/distributions.py", "log_prob"), WORKER),
        (("a3c/distributions.py", "entropy"), WORKER),
    ],
    "backward": [(("a3c/worker.py", "local_gradients"), WORKER)],
    "gradient clipping": [(("a3c/losses.py", "clip_grad_norm"), WORKER)],
    # decorated with torch.no_grad, so called from torch's wrapper: all their calls
    "optimizer step (shared RMSprop)": [(("a3c/shared_optim.py", "step"), ANY)],
    "pull (global -> local weights copy)": [(("a3c/global_model.py", "pull"), ANY)],
}


def _is(function: tuple[str, int, str], where: tuple[str, str]) -> bool:
    filename, _, name = function
    return filename.endswith(where[0]) and name == where[1]


def cumulative(stats: pstats.Stats, calls: list[tuple[tuple[str, str], tuple[str, str]]]) -> float:
    """Seconds spent in the ``calls`` (callee, from caller), callees' callees included."""
    total = 0.0
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for function, (_, _, _, _, callers) in table.items():
        for callee, caller in calls:
            if _is(function, callee):
                total += sum(
                    edge[3] for f, edge in callers.items() if caller == ANY or _is(f, caller)
                )
    return total


def total_time(stats: pstats.Stats, where: tuple[str, str]) -> float:
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    return sum(entry[3] for function, entry in table.items() if _is(function, where))


def profile(env_id: str, steps: int, atari_vector: bool | None) -> dict[str, Any]:
    from a3c import A3C
    from a3c.backends.base import set_up_worker_process

    set_up_worker_process()  # this process is the worker: set up as a worker process is
    overrides: dict[str, Any] = dict(
        backend="sync",
        workers=1,
        total_steps=steps,
        eval_interval=0,
        checkpoint_interval=0,
        tensorboard=False,
        progress=False,
        stop_at_return=None,
    )
    if atari_vector is not None:
        overrides["atari_vector"] = atari_vector
    with tempfile.TemporaryDirectory() as tmp:
        agent = A3C(env_id, run_dir=tmp, **overrides)
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        agent.learn()
        profiler.disable()
        wall = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    worker = total_time(stats, WORKER)
    parts = {name: cumulative(stats, where) for name, where in PARTS.items()}
    parts["the rest of the worker loop"] = worker - sum(parts.values())
    parts["outside the worker (start, supervision, saving)"] = wall - worker
    assert agent.summary is not None
    return {
        "env": env_id,
        "steps": agent.summary.global_step,
        "wall_s": wall,
        "steps_per_s": agent.summary.global_step / wall,
        "atari_vector": atari_vector,
        "envs_per_worker": agent.config.envs_per_worker,
        "n_steps": agent.config.n_steps,
        "seconds": parts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="PongNoFrameskip-v4")
    parser.add_argument("--steps", type=int, default=40_000)
    parser.add_argument(
        "--atari-vector", choices=["true", "false"], help="default: the library's own choice"
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    vector = None if args.atari_vector is None else args.atari_vector == "true"
    result = profile(args.env, args.steps, vector)
    print(
        f"{args.env}, one worker x {result['envs_per_worker']} envs, n_steps {result['n_steps']}, "
        f"{result['steps']:,} steps in {result['wall_s']:.1f} s under cProfile "
        f"({result['steps_per_s']:,.0f} steps/s); {machine()}"
    )
    for name, seconds in result["seconds"].items():
        share = seconds / result["wall_s"]
        print(f"  {name:52s} {seconds:7.1f} s  {share:6.1%}")
    suffix = {None: "", True: "_vector", False: "_wrappers"}[vector]
    data = {**measured(), **result}
    print(f"wrote {save_results(args.out_dir, f'profile_{args.env}{suffix}', data)}")


if __name__ == "__main__":
    main()
