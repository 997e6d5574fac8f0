"""Training throughput side by side: our A3C with 1..N workers, SB3 A2C, and the raw environment.

    python -m benchmarks.throughput --env CartPole-v1 --steps 300000
    python -m benchmarks.throughput --env PongNoFrameskip-v4 --steps 100000

Each contender trains for the same number of environment steps (ours: the env's preset, with
evaluation, TensorBoard and the early stop off; SB3 A2C: RL-Zoo hyper-parameters, for Atari its
``atari`` entry: 16 games, CnnPolicy, RMSpropTFLike). Raw: one environment with the same
preprocessing as training (Atari: frame skip 4 with max-pooling, 84x84 grayscale, 4 stacked
frames) stepped with random actions on one core, the ceiling of one worker; and as many copies
as ``--max-workers`` stepped at once, their steps/s summed, the ceiling of the cores together
(measured, since the cores share caches, memory and the host). On Atari, ours also runs with
the update re-running the rollout's forward pass, as an MLP's update does, beside the CNN's
default of back-propagating through the rollout's own passes; with malloc returning freed memory
to the kernel (its default, which the workers change); and with the CNN in bfloat16
(``cnn_precision``). A step is an agent
step (4 emulator frames on Atari). Each run is its own subprocess. Prints steps/s and the ratios;
writes JSON and regenerates benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from a3c.ale_vector import ale_vector_unavailable
from a3c.envs import EnvFactory
from benchmarks.report import RESULTS, machine, measured, save_results
from benchmarks.time_to_solve import train_a3c

RAW = "raw env (same preprocessing), random actions, 1 core"
RAW_VECTOR = "raw AtariVectorEnv (the preset's games per worker), random actions, 1 core"
REPLAY = ", the update re-running the forward pass"
MMAP = ", freed memory returned to the kernel"
BF16 = ", bfloat16 CNN"


def at_once(name: str, processes: int) -> str:
    """The row of ``processes`` copies of a raw contender run side by side, one per core."""
    return name.replace("1 core", f"{processes} processes at once, summed")


def wait_for_each_other(meeting: Path, processes: int, timeout_s: float = 120.0) -> None:
    """Block until ``processes`` copies have called this with the same folder, just before
    their timed loops: copies run side by side then share the cores for the whole of each one's
    measurement. A copy that never comes (it failed) stops the others after ``timeout_s``."""
    (meeting / str(os.getpid())).touch()
    deadline = time.monotonic() + timeout_s
    while len(list(meeting.iterdir())) < processes:
        if time.monotonic() > deadline:
            raise SystemExit(f"the other copies did not reach {meeting} within {timeout_s:g} s")
        time.sleep(0.01)


def plural(workers: int) -> str:
    return f"a3c, {workers} worker{'s' if workers > 1 else ''}"


def raw_env(env_id: str, steps: int, ready: Callable[[], None] = lambda: None) -> float:
    """Steps/s of one env with random actions; ``ready`` is called just before the clock starts."""
    from a3c.envs import EnvFactory

    env = EnvFactory(env_id)()  # Atari: the training preprocessing
    env.reset(seed=0)
    env.action_space.seed(0)
    ready()
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def raw_group(env_id: str, steps: int, ready: Callable[[], None] = lambda: None) -> float:
    """Atari: the preset's games per worker in one ``AtariVectorEnv`` (with a3c's stacking and
    clipping), random actions, on one core: the ceiling of one worker on the vector path."""
    from a3c.ale_vector import AleVectorGroup
    from a3c.config import resolve_config

    config = resolve_config(env_id)
    n = config.envs_per_worker
    group = AleVectorGroup(EnvFactory.from_config(config), n, seed=0)
    group.reset()
    rng = np.random.default_rng(0)
    rounds = max(1, steps // n)
    ready()
    start = time.perf_counter()
    for _ in range(rounds):
        group.step(rng.integers(int(group.action_space.n), size=n))
    elapsed = time.perf_counter() - start
    group.close()
    return rounds * n / elapsed


def ours(
    env_id: str,
    steps: int,
    workers: int,
    replay_rollout: bool = False,
    return_freed_memory: bool = False,
    **overrides: Any,
) -> float:
    # The forked workers inherit the patched modules.
    if replay_rollout:
        import a3c.worker

        a3c.worker.keeps_rollout_graph = lambda model: False
    if return_freed_memory:  # malloc's own behaviour
        import a3c.backends.base

        a3c.backends.base.keep_freed_memory = lambda: False
    # Fork for every row (Linux's default up to Python 3.13), so that the rows compare alike.
    overrides.setdefault("start_method", "fork")
    agent = train_a3c(env_id, workers=workers, total_steps=steps, stop_at_return=None, **overrides)
    assert agent.summary is not None
    return agent.summary.global_step / agent.summary.wall_time


def sb3_a2c(env_id: str, steps: int) -> float:
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from a3c.envs import EnvFactory
    from benchmarks.peers import sb3_kwargs, without_log_files, zoo_hyperparameters

    if EnvFactory(env_id).is_atari:
        return sb3_a2c_atari(env_id, steps)
    hp = zoo_hyperparameters("a2c", env_id)
    env = make_vec_env(env_id, n_envs=hp["n_envs"], seed=0)
    if hp["normalize"]:
        env = VecNormalize(env, gamma=hp["kwargs"].get("gamma", 0.99))
    model = A2C("MlpPolicy", env, seed=0, verbose=0, **sb3_kwargs(hp["kwargs"]))
    without_log_files(model)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    return model.num_timesteps / (time.perf_counter() - start)


def sb3_a2c_atari(env_id: str, steps: int) -> float:
    """RL-Zoo ``a2c.yml``, ``atari``: 16 envs, 4 stacked frames, CnnPolicy, ent_coef 0.01,
    vf_coef 0.25, RMSpropTFLike with eps 1e-5 (n_steps 5, lr 7e-4: A2C's defaults)."""
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
    from stable_baselines3.common.vec_env import VecFrameStack

    from benchmarks.peers import without_log_files

    env = VecFrameStack(make_atari_env(env_id, n_envs=16, seed=0), n_stack=4)
    model = A2C(
        "CnnPolicy",
        env,
        ent_coef=0.01,
        vf_coef=0.25,
        policy_kwargs=dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5)),
        seed=0,
        verbose=0,
    )
    without_log_files(model)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    return model.num_timesteps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--max-workers", type=int, default=2)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--single", nargs=2, metavar=("WHAT", "ARG"), help=argparse.SUPPRESS)
    parser.add_argument("--together", nargs=2, metavar=("DIR", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        what, arg = args.single

        def ready() -> None:  # start the clock with the other copies, past everyone's set-up
            if args.together:
                wait_for_each_other(Path(args.together[0]), int(args.together[1]))

        if what == "raw":
            value = raw_env(args.env, args.steps, ready)
        elif what == "raw-vector":
            value = raw_group(args.env, args.steps, ready)
        elif what == "a3c":
            value = ours(args.env, args.steps, int(arg))
        elif what == "a3c-replay":
            value = ours(args.env, args.steps, int(arg), replay_rollout=True)
        elif what == "a3c-mmap":
            value = ours(args.env, args.steps, int(arg), return_freed_memory=True)
        elif what == "a3c-bf16":
            value = ours(args.env, args.steps, int(arg), cnn_precision="bfloat16")
        elif what == "a3c-wrappers":
            value = ours(args.env, args.steps, int(arg), atari_vector=False)
        else:
            value = sb3_a2c(args.env, args.steps)
        print(json.dumps(value))
        return

    def measure(what: str, arg: str = "0", processes: int = 1) -> float:
        """Steps/s of one contender in its own subprocess; with ``processes`` > 1, that many
        copies at once, their steps/s summed (what the cores give together, not one core's
        figure times the cores: they share caches, memory bandwidth and the host)."""
        command = [sys.executable, "-m", "benchmarks.throughput", "--env", args.env]
        command += ["--steps", str(args.steps), "--single", what, arg]
        with tempfile.TemporaryDirectory() as meeting:
            if processes > 1:
                command += ["--together", meeting, str(processes)]
            runs = [
                subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(processes)
            ]
            total = 0.0
            for run in runs:
                out, err = run.communicate()
                if run.returncode != 0:
                    for other in runs:  # no copy left waiting for this one
                        other.kill()
                    raise SystemExit(f"{what} failed:\n{err}")
                total += float(out.strip().splitlines()[-1])
        return total

    rows: list[dict[str, Any]] = []
    print(f"{args.env}, {args.steps:,} steps per run; {machine()}")
    workers = range(1, args.max_workers + 1)
    cores = args.max_workers
    together = cores > 1  # the raw ceiling of the cores together, measured
    contenders = [(RAW, "raw", "0", 1)] + [(at_once(RAW, cores), "raw", "0", cores)] * together
    contenders.append(("SB3 A2C (RL-Zoo)", "sb3", "0", 1))
    # the AtariVectorEnv rows where the game takes that path (Breakout, needing FIRE, does not)
    atari = EnvFactory(args.env).is_atari and ale_vector_unavailable(EnvFactory(args.env)) is None
    if atari:  # the Gymnasium-wrapper path beside the AtariVectorEnv one
        contenders.append((RAW_VECTOR, "raw-vector", "0", 1))
        contenders += [(at_once(RAW_VECTOR, cores), "raw-vector", "0", cores)] * together
        contenders += [
            (f"{plural(w)}, Gymnasium wrappers", "a3c-wrappers", str(w), 1) for w in workers
        ]
    contenders += [
        (plural(w) + (", AtariVectorEnv" if atari else ""), "a3c", str(w), 1) for w in workers
    ]
    if atari:  # the CNN's two ways to the loss's forward pass, side by side, and its options
        for variant, what in ((REPLAY, "a3c-replay"), (MMAP, "a3c-mmap"), (BF16, "a3c-bf16")):
            contenders += [
                (f"{plural(w)}, AtariVectorEnv{variant}", what, str(w), 1) for w in workers
            ]
    for name, what, arg, processes in contenders:
        value = measure(what, arg, processes)
        rows.append({"name": name, "steps_per_s": value})
        print(f"  {name:34s} {value:>10,.0f} steps/s", flush=True)
    by_name = {row["name"]: row["steps_per_s"] for row in rows}
    suffix = ", AtariVectorEnv" if atari else ""
    best, one = plural(args.max_workers) + suffix, plural(1) + suffix
    ratios = {
        f"{best} / SB3 A2C": by_name[best] / by_name["SB3 A2C (RL-Zoo)"],
        f"{best} / 1 worker": by_name[best] / by_name[one],
        f"{best} / raw env on one core": by_name[best] / by_name[RAW],
        f"{best} / (raw env x {cores} cores)": by_name[best] / (cores * by_name[RAW]),
    }
    if together:
        raw_all = at_once(RAW, cores)
        ratios[f"{best} / {raw_all}"] = by_name[best] / by_name[raw_all]
        ratios[f"{raw_all} / (raw env x {cores} cores)"] = by_name[raw_all] / (cores * by_name[RAW])
    if atari:
        wrappers = plural(args.max_workers) + ", Gymnasium wrappers"
        ratios[f"{best} / {wrappers}"] = by_name[best] / by_name[wrappers]
        one_wrapper = plural(1) + ", Gymnasium wrappers"
        ratios[f"{one} / {one_wrapper}"] = by_name[one] / by_name[one_wrapper]
        ratios[f"{RAW_VECTOR} / {RAW}"] = by_name[RAW_VECTOR] / by_name[RAW]
        for name in (one, best):
            ratios[f"{name} / {name}{REPLAY}"] = by_name[name] / by_name[name + REPLAY]
            ratios[f"{name} / {name}{MMAP}"] = by_name[name] / by_name[name + MMAP]
            ratios[f"{name}{BF16} / {name}"] = by_name[name + BF16] / by_name[name]
        ratios[f"{best} / (raw vector x {cores} cores)"] = by_name[best] / (
            cores * by_name[RAW_VECTOR]
        )
        if together:
            vector_all = at_once(RAW_VECTOR, cores)
            ratios[f"{best} / {vector_all}"] = by_name[best] / by_name[vector_all]
            ratios[f"{best}{BF16} / {raw_all}"] = by_name[best + BF16] / by_name[raw_all]
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}")
    data = {
        "env": args.env,
        "steps": args.steps,
        **measured(),
        "rows": rows,
        "ratios": ratios,
    }
    print(f"wrote {save_results(args.out_dir, f'throughput_{args.env}', data)}")


if __name__ == "__main__":
    main()
