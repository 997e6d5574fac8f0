"""Resident memory over a long run: does anything grow?

    python -m benchmarks.memory --env CartPole-v1 --steps 1000000

Runs ``a3c train`` (the env's preset, 2 workers, no early stop) in a subprocess and samples, once
a second from /proc, the resident memory (RSS) of the trainer and of each of its child processes
(workers, evaluator). Growth is measured from the end of warm-up (``--warmup`` of the run's
samples) to the end. Writes JSON to benchmarks/results and regenerates RESULTS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import RESULTS, machine, measured, save_results


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--warmup", type=float, default=0.2, help="fraction of samples")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "a3c",
                "train",
                args.env,
                "--total-steps",
                str(args.steps),
                "--stop-at-return",
                "none",
                "--workers",
                "2",
                "--no-progress",
                "--run-dir",
                tmp,
                "--run-name",
                "mem",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        samples: list[dict[str, float]] = []
        start = time.time()
        while proc.poll() is None:
            trainer = rss_mib(proc.pid)
            kids = [r for r in (rss_mib(c) for c in children(proc.pid)) if r is not None]
            if trainer is not None and len(kids) >= 3:  # 2 workers and the evaluator
                samples.append(
                    {
                        "t": time.time() - start,
                        "trainer": trainer,
                        "children": sum(kids),
                        "max_child": max(kids),
                    }
                )
            time.sleep(1.0)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr.read().decode() if proc.stderr else "training failed")
    first = samples[int(len(samples) * args.warmup)]
    last = samples[-1]
    growth = {key: (last[key] - first[key]) / first[key] for key in ("trainer", "children")}
    total = (last["trainer"] + last["children"]) / (first["trainer"] + first["children"]) - 1
    print(f"{args.env}, {args.steps:,} steps, 2 workers, {len(samples)} samples; {machine()}")
    for key in ("trainer", "children"):
        print(
            f"  {key:9s} RSS after warm-up {first[key]:7.1f} MiB, at the end {last[key]:7.1f} "
            f"MiB: {growth[key]:+.1%}"
        )
    print(f"  total growth after warm-up: {total:+.1%}")
    print(f"  largest child process (a worker or the evaluator): {last['max_child']:.1f} MiB")
    data = {
        "env": args.env,
        "steps": args.steps,
        **measured(),
        "after_warmup": first,
        "end": last,
        "growth": {**growth, "total": total},
        "samples": samples,
    }
    print(f"wrote {save_results(args.out_dir, f'memory_{args.env}', data)}")


if __name__ == "__main__":
    main()
