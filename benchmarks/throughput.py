"""Training throughput side by side: our A3C with 1..N workers, SB3 A2C, and the raw environment.

    python -m benchmarks.throughput --env CartPole-v1 --steps 300000

Each contender trains for the same number of environment steps (ours: the env's preset, with
evaluation, TensorBoard and the early stop off; SB3 A2C: RL-Zoo hyper-parameters). Raw: one
environment stepped with random actions on one core, the ceiling of one worker. Each run is its
own subprocess. Prints steps/s and the ratios; writes JSON and regenerates benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.time_to_solve import RESULTS, machine, train_a3c


def raw_env(env_id: str, steps: int) -> float:
    import gymnasium as gym

    env = gym.make(env_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def ours(env_id: str, steps: int, workers: int) -> float:
    agent = train_a3c(env_id, workers=workers, total_steps=steps, stop_at_return=None)
    assert agent.summary is not None
    return agent.summary.global_step / agent.summary.wall_time


def sb3_a2c(env_id: str, steps: int) -> float:
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from benchmarks.peers import zoo_hyperparameters

    hp = zoo_hyperparameters("a2c", env_id)
    env = make_vec_env(env_id, n_envs=hp["n_envs"], seed=0)
    if hp["normalize"]:
        env = VecNormalize(env, gamma=hp["kwargs"].get("gamma", 0.99))
    model = A2C("MlpPolicy", env, seed=0, verbose=0, **hp["kwargs"])
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
    args = parser.parse_args()
    if args.single:
        what, arg = args.single
        if what == "raw":
            value = raw_env(args.env, args.steps)
        elif what == "a3c":
            value = ours(args.env, args.steps, int(arg))
        else:
            value = sb3_a2c(args.env, args.steps)
        print(json.dumps(value))
        return

    def measure(what: str, arg: str = "0") -> float:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.throughput",
                "--env",
                args.env,
                "--steps",
                str(args.steps),
                "--single",
                what,
                arg,
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise SystemExit(f"{what} failed:\n{out.stderr}")
        return float(out.stdout.strip().splitlines()[-1])

    rows: list[dict[str, Any]] = []
    print(f"{args.env}, {args.steps:,} steps per run; {machine()}")
    for name, what, arg in [
        ("raw env, random actions, 1 core", "raw", "0"),
        ("SB3 A2C (RL-Zoo)", "sb3", "0"),
    ] + [
        (f"a3c, {w} worker{'s' if w > 1 else ''}", "a3c", str(w))
        for w in range(1, args.max_workers + 1)
    ]:
        value = measure(what, arg)
        rows.append({"name": name, "steps_per_s": value})
        print(f"  {name:34s} {value:>10,.0f} steps/s", flush=True)
    by_name = {row["name"]: row["steps_per_s"] for row in rows}
    best = f"a3c, {args.max_workers} workers" if args.max_workers > 1 else "a3c, 1 worker"
    ratios = {
        f"{best} / SB3 A2C": by_name[best] / by_name["SB3 A2C (RL-Zoo)"],
        f"{best} / 1 worker": by_name[best] / by_name["a3c, 1 worker"],
        f"{best} / raw env on one core": by_name[best] / by_name["raw env, random actions, 1 core"],
        f"{best} / (raw env x {args.max_workers} cores)": by_name[best]
        / (args.max_workers * by_name["raw env, random actions, 1 core"]),
    }
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}")
    data = {
        "env": args.env,
        "steps": args.steps,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "rows": rows,
        "ratios": ratios,
    }
    from benchmarks.report import save_results

    print(f"wrote {save_results(args.out_dir, f'throughput_{args.env}', data)}")


if __name__ == "__main__":
    main()
