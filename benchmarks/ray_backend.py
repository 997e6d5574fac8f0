"""The ray backend against the processes backend on the same machine, in one run.

    python -m benchmarks.ray_backend --env CartPole-v1

Both backends train the env's preset for the same number of steps, with evaluation, the early
stop, TensorBoard and checkpoints off; each run is its own subprocess. Measured for two worker
counts: every core a worker, and one core fewer (a core left for the parameter server, as a
cluster deployment would give it), and for two rollout sizes: the preset's (envs_per_worker x
n_steps steps per update) and 128 envs per worker. Each contender runs ``--repeats`` times,
interleaved. Prints median steps/s, gradient pushes (updates) per second, the median ratio
ray / processes (paired by round, with its range), the policy-lag distribution, and Ray's own
cost per actor call (the CPU time an empty round trip takes at each end), which bounds what the
ray backend can reach when updates are small. Steps/s are steady-state: from a quarter of the
run's wall time to its end, read from the run's ``episodes.csv`` (start-up excluded; the
whole-run ratio is reported too). Writes JSON and regenerates benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from a3c.config import Config
from benchmarks.report import RESULTS, machine, measured, save_results
from benchmarks.time_to_solve import train_a3c

TARGET = 0.70  # issue #6: ray >= 70% of the processes backend's steps/s on one machine
DEFAULT_IN_FLIGHT = Config.ray_max_in_flight
WARM_UP = 0.25  # the share of a run's wall time left out of its steady-state rate


def steady_rate(episodes_csv: Path) -> float:
    """Steps per second between ``WARM_UP`` of the run's wall time and its last episode."""
    with episodes_csv.open() as f:
        rows = [(float(r["wall_time"]), int(r["global_step"])) for r in csv.DictReader(f)]
    start = next(row for row in rows if row[0] >= WARM_UP * rows[-1][0])
    return (rows[-1][1] - start[1]) / (rows[-1][0] - start[0])


def one_run(
    env_id: str, steps: int, backend: str, workers: int, envs: int, in_flight: int
) -> dict[str, Any]:
    overrides: dict[str, Any] = dict(backend=backend, workers=workers, ray_max_in_flight=in_flight)
    if envs:
        overrides["envs_per_worker"] = envs
    with tempfile.TemporaryDirectory() as tmp:
        agent = train_a3c(
            env_id,
            run_dir=Path(tmp),
            run_name="run",
            total_steps=steps,
            stop_at_return=None,
            **overrides,
        )
        steady = steady_rate(Path(tmp) / "run" / "episodes.csv")
    s = agent.summary
    assert s is not None
    return {
        "steps_per_s": steady,
        "whole_run_steps_per_s": s.global_step / s.wall_time,
        "updates_per_s": steady * s.updates / s.global_step,
        "steps_per_update": s.global_step / max(s.updates, 1),
        "policy_lag": s.policy_lag,
    }


def call_floor(payload_bytes: int, calls: int = 3000) -> dict[str, float]:
    """Ray's own cost of one actor round trip carrying ``payload_bytes`` each way: the CPU time
    (all threads) of the caller and of the called actor, and the wall time, in ms."""
    import resource

    import ray

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    @ray.remote(num_cpus=0)
    class Server:
        def echo(self, data: bytes) -> bytes:
            return data

        def cpu(self) -> float:
            return cpu()

    @ray.remote(num_cpus=1)
    class Caller:
        def run(self, server: Any, n: int) -> tuple[float, float]:
            data = bytes(payload_bytes)
            for _ in range(100):  # warm-up
                ray.get(server.echo.remote(data))
            start_cpu, start = cpu(), time.perf_counter()
            for _ in range(n):
                ray.get(server.echo.remote(data))
            return cpu() - start_cpu, time.perf_counter() - start

    ray.init(include_dashboard=False, logging_level="WARNING")
    server = Server.remote()
    server_cpu = ray.get(server.cpu.remote())
    caller_cpu, wall = ray.get(Caller.remote().run.remote(server, calls))
    server_cpu = ray.get(server.cpu.remote()) - server_cpu
    ray.shutdown()
    return {
        "caller_cpu_ms": 1e3 * caller_cpu / calls,
        "server_cpu_ms": 1e3 * server_cpu / calls,
        "wall_ms": 1e3 * wall / calls,
    }


def payload_size(env_id: str) -> int:
    """Bytes of the preset model's state: what a push's answer carries."""
    from a3c import A3C

    with tempfile.TemporaryDirectory() as tmp:
        model = A3C(env_id, run_dir=tmp, progress=False, tensorboard=False).model
    return sum(t.numel() * t.element_size() for t in model.state_tensors())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument(
        "--steps",
        type=int,
        default=250_000,
        help="steps per worker at the preset's rollout (x8 at 128 envs per worker)",
    )
    parser.add_argument(
        "--envs", type=int, nargs="+", default=[0, 128], help="envs per worker (0: preset)"
    )
    parser.add_argument("--workers", type=int, nargs="+", help="default: cores - 1 and cores")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each contender")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--single", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--floor", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        backend, workers, envs, in_flight = args.single
        result = one_run(args.env, args.steps, backend, int(workers), int(envs), int(in_flight))
        print(json.dumps(result))
        return
    if args.floor:
        print(json.dumps(call_floor(args.floor)))
        return

    def subprocess_json(*options: str) -> dict[str, Any]:
        command = [sys.executable, "-m", "benchmarks.ray_backend", "--env", args.env, *options]
        out = subprocess.run(command, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"{' '.join(options)} failed:\n{out.stderr}")
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    cores = len(os.sched_getaffinity(0))
    workers_list = args.workers or sorted({max(1, cores - 1), cores})
    payload = payload_size(args.env)
    floor = subprocess_json("--floor", str(payload))
    print(f"{args.env}; {machine()}")
    print(
        f"Ray's cost of one actor round trip ({payload:,} bytes each way): "
        f"{floor['caller_cpu_ms']:.2f} ms CPU in the caller, {floor['server_cpu_ms']:.2f} ms in "
        f"the called actor, {floor['wall_ms']:.2f} ms wall",
        flush=True,
    )
    contenders = {
        "processes": ("processes", 1),
        "ray, 1 in flight": ("ray", 1),
        f"ray, {DEFAULT_IN_FLIGHT} in flight": ("ray", DEFAULT_IN_FLIGHT),
    }
    rows = []
    for workers in workers_list:
        for envs in args.envs:
            steps = args.steps * workers * (envs // 16 if envs else 1)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
            for _ in range(args.repeats):  # interleaved, so that drifts hit every contender
                for name, (backend, in_flight) in contenders.items():
                    options = ["--steps", str(steps), "--single", backend, str(workers), str(envs)]
                    runs[name].append(subprocess_json(*options, str(in_flight)))
            base = runs["processes"]
            for name, repeats in runs.items():
                # Paired: each repeat's ratio to the processes run of the same round.
                ratios = [r["steps_per_s"] / b["steps_per_s"] for r, b in zip(repeats, base)]
                whole = [
                    r["whole_run_steps_per_s"] / b["whole_run_steps_per_s"]
                    for r, b in zip(repeats, base)
                ]
                typical = sorted(repeats, key=lambda r: r["steps_per_s"])[len(repeats) // 2]
                lag = typical["policy_lag"]
                row = {
                    "workers": workers,
                    "envs_per_worker": envs or "preset",
                    "steps_per_update": round(typical["steps_per_update"]),
                    "contender": name,
                    "steps_per_s": statistics.median(r["steps_per_s"] for r in repeats),
                    "updates_per_s": statistics.median(r["updates_per_s"] for r in repeats),
                    "ratio_to_processes": statistics.median(ratios),
                    "ratio_range": [min(ratios), max(ratios)],
                    "whole_run_ratio": statistics.median(whole),
                    "repeats": repeats,
                    "policy_lag": lag,
                }
                rows.append(row)
                lag_text = (
                    f"lag mean {lag['mean']:.2f} p95 {lag['p95']:.0f} max {lag['max']}"
                    if lag
                    else f"{1e3 * workers / row['updates_per_s']:.2f} ms per update per worker"
                )
                print(
                    f"  {workers} workers {row['steps_per_update']:>4} steps/update  {name:18s} "
                    f"{row['steps_per_s']:>9,.0f} steps/s {row['updates_per_s']:>7,.0f} pushes/s "
                    f"{row['ratio_to_processes']:>5.2f}x ({min(ratios):.2f}-{max(ratios):.2f})  "
                    f"{lag_text}",
                    flush=True,
                )
    ray_rows = [r for r in rows if r["contender"] != "processes"]
    met = sum(r["ratio_to_processes"] >= TARGET for r in ray_rows)
    print(f"target ray >= {TARGET:.2f}x processes: met in {met} of {len(ray_rows)} ray rows")
    data = {
        "env": args.env,
        "steps": args.steps,
        "repeats": args.repeats,
        **measured(),
        "target": TARGET,
        "call_floor": {"payload_bytes": payload, **floor},
        "rows": rows,
    }
    print(f"wrote {save_results(args.out_dir, f'ray_backend_{args.env}', data)}")


if __name__ == "__main__":
    main()
