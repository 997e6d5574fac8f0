"""The memory task: velocity-hidden CartPole, an LSTM policy against a feed-forward one.

    python -m benchmarks.memory_task --seeds 5

``a3c/CartPoleNoVelocity-v1`` observes only the cart position and the pole angle; the velocities
must be inferred from successive observations, which a feed-forward policy cannot do. Both
contenders train with the env's preset (the LSTM one); the MLP differs only by ``lstm=False``.
Criterion: the last-100 training mean reaches 475 within the preset's 1M steps. Each run is its own
subprocess; prints per-seed results and writes JSON to benchmarks/results/ and RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.report import RESULTS, machine, measured, save_results
from benchmarks.time_to_solve import run_a3c

ENV_ID = "a3c/CartPoleNoVelocity-v1"
THRESHOLD = 475.0
POLICIES = {"lstm": True, "mlp": False}


def run_one(policy: str, seed: int) -> dict[str, Any]:
    return run_a3c(ENV_ID, seed, THRESHOLD, lstm=POLICIES[policy])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--single", nargs=2, metavar=("POLICY", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(run_one(args.single[0], int(args.single[1]))))
        return

    results: dict[str, Any] = {
        "env": ENV_ID,
        "threshold": THRESHOLD,
        **measured(),
        "runs": {},
    }
    print(f"{ENV_ID}: last-100 training mean >= {THRESHOLD:g} within 1M steps; {machine()}")
    for policy in POLICIES:
        rows = []
        for seed in range(args.seeds):
            command = [sys.executable, "-m", "benchmarks.memory_task", "--single", policy]
            out = subprocess.run([*command, str(seed)], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"{policy} seed {seed} failed:\n{out.stderr}")
            row = {"seed": seed, **json.loads(out.stdout.strip().splitlines()[-1])}
            rows.append(row)
            shown = (
                f"solved at {row['steps_to_solve']:,} steps in {row['time_to_solve_s']:.0f} s"
                if row["solved"]
                else f"unsolved: best last-100 mean {row['best_last100']:.1f} in "
                f"{row['steps']:,} steps"
            )
            print(f"  {policy} seed {seed}: {shown}", flush=True)
        results["runs"][policy] = rows
    print()
    for policy, rows in results["runs"].items():
        solved = sum(r["solved"] for r in rows)
        best = [round(r["best_last100"], 1) for r in rows]
        print(f"{policy}: {solved}/{len(rows)} seeds solved; best last-100 means {best}")
    report = save_results(args.out_dir, "lstm_memory_task", results)
    print(f"wrote {args.out_dir / 'lstm_memory_task'}.json and {report}")


if __name__ == "__main__":
    main()
