"""The ray backend against the processes backend on the same machine, in one run.

    python -m benchmarks.ray_backend --env CartPole-v1 --steps 300000

Both train the env's preset (2 workers) for the same number of steps, with evaluation, the early
stop, TensorBoard and checkpoints off; each run is its own subprocess. Prints steps/s, gradient
pushes (updates) per second, the ratio ray / processes, and the ray backend's policy-lag
distribution. Every update is one round trip to the parameter server, so the overhead depends on
the work per update: the preset's rollouts (envs_per_worker x n_steps steps per update) and larger
ones are measured. Time is from the trainer's start (Ray's own start-up excluded, the actors'
included). Writes JSON and regenerates benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.report import RESULTS, machine, measured, save_results
from benchmarks.time_to_solve import train_a3c


def one_run(env_id: str, steps: int, backend: str, envs: int, in_flight: int) -> dict[str, Any]:
    overrides: dict[str, Any] = dict(backend=backend, ray_max_in_flight=in_flight)
    if envs:
        overrides["envs_per_worker"] = envs
    agent = train_a3c(env_id, total_steps=steps, stop_at_return=None, **overrides)
    s = agent.summary
    assert s is not None
    return {
        "steps_per_s": s.global_step / s.wall_time,
        "updates_per_s": s.updates / s.wall_time,
        "steps_per_update": s.global_step / max(s.updates, 1),
        "policy_lag": s.policy_lag,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument(
        "--envs", type=int, nargs="+", default=[0, 32, 128], help="envs per worker (0: preset)"
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--single", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        backend, envs, in_flight = args.single
        print(json.dumps(one_run(args.env, args.steps, backend, int(envs), int(in_flight))))
        return

    def measure(backend: str, envs: int, in_flight: int = 1) -> dict[str, Any]:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.ray_backend",
                "--env",
                args.env,
                "--steps",
                str(args.steps * max(1, envs // 32)),  # long enough for large rollouts
                "--single",
                backend,
                str(envs),
                str(in_flight),
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise SystemExit(f"{backend} failed:\n{out.stderr}")
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    print(f"{args.env}, 2 workers; {machine()}")
    rows = []
    for envs in args.envs:
        contenders = [("processes", 1), ("ray", 1)] + ([("ray", 2)] if envs == 0 else [])
        results = {}
        for backend, in_flight in contenders:
            name = backend if backend == "processes" else f"ray, {in_flight} in flight"
            results[name] = measure(backend, envs, in_flight)
        base = results["processes"]
        for name, r in results.items():
            lag = r["policy_lag"]
            row = {
                "envs_per_worker": envs or "preset",
                "steps_per_update": round(r["steps_per_update"]),
                "contender": name,
                "steps_per_s": r["steps_per_s"],
                "updates_per_s": r["updates_per_s"],
                "ratio_to_processes": r["steps_per_s"] / base["steps_per_s"],
                "policy_lag": lag,
            }
            rows.append(row)
            lag_text = (
                f"lag mean {lag['mean']:.2f} p95 {lag['p95']:.0f} max {lag['max']}" if lag else ""
            )
            print(
                f"  {row['steps_per_update']:>4} steps/update  {name:18s} "
                f"{r['steps_per_s']:>9,.0f} steps/s {r['updates_per_s']:>7,.0f} pushes/s "
                f"{row['ratio_to_processes']:>5.2f}x  {lag_text}",
                flush=True,
            )
    data = {
        "env": args.env,
        "steps": args.steps,
        **measured(),
        "rows": rows,
    }
    print(f"wrote {save_results(args.out_dir, f'ray_backend_{args.env}', data)}")


if __name__ == "__main__":
    main()
