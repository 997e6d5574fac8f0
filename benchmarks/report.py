"""Regenerates benchmarks/RESULTS.md from the JSON files the benchmark scripts write.

python -m benchmarks.report
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    """The cores this process may use, the CPU, Python and torch: what a figure depends on."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cores} CPU cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


def measured() -> dict[str, str]:
    """Where and when a benchmark ran: every results JSON starts with these two fields."""
    return {"machine": machine(), "date": time.strftime("%Y-%m-%d")}


def median_time(rows: list[dict[str, Any]]) -> float | None:
    """Median over seeds; an unsolved seed counts as infinitely slow."""
    times = [r["time_to_solve_s"] if r["solved"] else float("inf") for r in rows]
    value = statistics.median(times)
    return None if value == float("inf") else value


def _solved_cells(rows: list[dict[str, Any]]) -> str:
    """Table cells of runs to a threshold: solved seeds, median seconds (an unsolved seed
    infinitely slow), median steps over the solved seeds."""
    solved = [r for r in rows if r["solved"]]
    seconds = median_time(rows)
    steps = statistics.median(r["steps_to_solve"] for r in solved) if solved else None
    return (
        f"{len(solved)}/{len(rows)} | {'-' if seconds is None else f'{seconds:.1f}'} | "
        f"{'-' if steps is None else f'{steps:,.0f}'}"
    )


def _time_to_solve(data: dict[str, Any], name: str) -> list[str]:
    lines = [
        f"### Time to solve {data['env']} (last-100 training mean >= {data['threshold']:g})",
        "",
        f"Measured {data['date']} on {data['machine']}. "
        f"`python -m benchmarks.time_to_solve --env {data['env']} "
        f"--seeds {len(next(iter(data['runs'].values())))}`",
        "",
        "| contender | solved | median s | median steps | per-seed seconds |",
        "|---|---|---|---|---|",
    ]
    for algo, rows in data["runs"].items():
        per_seed = ", ".join(
            f"{r['time_to_solve_s']:.1f}" if r["solved"] else "unsolved" for r in rows
        )
        lines.append(f"| {algo} | {_solved_cells(rows)} | {per_seed} |")
    lines.append("")
    for algo, ratio in data.get("ratios", {}).items():
        lines.append(f"- a3c median / {algo} median: **{ratio:.2f}** ({1 / ratio:.1f}x sooner)")
    lines += ["", f"![{data['env']}](results/{name}.png)", ""]
    return lines


def _throughput(data: dict[str, Any], name: str) -> list[str]:
    lines = [
        f"### Throughput on {data['env']} ({data['steps']:,} steps per run)",
        "",
        f"Measured {data['date']} on {data['machine']}. "
        f"`python -m benchmarks.throughput --env {data['env']} --steps {data['steps']}`",
        "",
        "| what | steps/s |",
        "|---|---|",
    ]
    lines += [f"| {row['name']} | {row['steps_per_s']:,.0f} |" for row in data["rows"]]
    lines.append("")
    # truncated to three decimals, not rounded: a ratio just short of a target (0.5x the raw
    # emulator) does not print as the target
    lines += [
        f"- {key}: **{math.floor(value * 1000) / 1000:.3f}**"
        for key, value in data["ratios"].items()
    ]
    lines.append("")
    return lines


def _profile(data: dict[str, Any]) -> list[str]:
    path = {None: "library's choice", True: "AtariVectorEnv", False: "Gymnasium wrappers"}
    flag = (
        ""
        if data["atari_vector"] is None
        else f" --atari-vector {str(data['atari_vector']).lower()}"
    )
    lines = [
        f"### Where one worker's time goes on {data['env']} ({path[data['atari_vector']]})",
        "",
        f"Measured {data['date']} on {data['machine']}. "
        f"`python -m benchmarks.profile_worker --env {data['env']} --steps {data['steps']}{flag}`: "
        f"one worker x {data['envs_per_worker']} envs, n_steps {data['n_steps']}, the sync backend "
        f"under cProfile, {data['steps_per_s']:,.0f} steps/s.",
        "",
        "| part | seconds | share |",
        "|---|---|---|",
    ]
    for name, seconds in data["seconds"].items():
        lines.append(f"| {name} | {seconds:.1f} | {seconds / data['wall_s']:.1%} |")
    lines.append("")
    return lines


def _memory(data: dict[str, Any]) -> list[str]:
    first, last = data["after_warmup"], data["end"]
    return [
        f"### Memory over {data['steps']:,} steps of {data['env']} (2 workers)",
        "",
        f"Measured {data['date']} on {data['machine']}. "
        f"`python -m benchmarks.memory --env {data['env']}`",
        "",
        "| process | RSS after warm-up (MiB) | RSS at the end (MiB) | growth |",
        "|---|---|---|---|",
        f"| trainer | {first['trainer']:.1f} | {last['trainer']:.1f} | "
        f"{data['growth']['trainer']:+.1%} |",
        f"| workers + evaluator | {first['children']:.1f} | {last['children']:.1f} | "
        f"{data['growth']['children']:+.1%} |",
        "",
        f"- total growth after warm-up: **{data['growth']['total']:+.1%}**",
        f"- per process at the end: largest child (a worker or the evaluator)"
        f" **{last['max_child']:.1f} MiB**, mean child {last['children'] / 3:.1f} MiB",
        "",
    ]


def _ray_backend(data: dict[str, Any]) -> list[str]:
    floor = data["call_floor"]
    lines = [
        f"### Ray backend against processes, {data['env']}, one machine",
        "",
        f"Measured {data['date']} on {data['machine']}. "
        f"`python -m benchmarks.ray_backend --env {data['env']} --steps {data['steps']}"
        f" --repeats {data['repeats']}`",
        "",
        f"Medians of {data['repeats']} runs per contender, interleaved; ratios paired by round."
        " Steady-state steps/s (the first quarter of each run's wall time left out; the"
        " whole-run ratio, start-up included, alongside). Every"
        " update is a round trip to the parameter-server actor; Ray's own cost of one, measured"
        f" in the same run with {floor['payload_bytes']:,} bytes each way (the model's state):"
        f" {floor['caller_cpu_ms']:.2f} ms CPU in the caller and {floor['server_cpu_ms']:.2f} ms"
        f" in the parameter server ({floor['wall_ms']:.2f} ms wall). Policy lag: global updates"
        " between the pull whose weights computed a gradient and that gradient's push (ray"
        f" backend only). Target (issue #6): ray >= {data['target']:.2f}x processes.",
        "",
        "| workers | steps per update | contender | steps/s | pushes/s | ratio to processes"
        " (range) | whole-run ratio | policy lag mean / p95 / max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in data["rows"]:
        lag = row["policy_lag"]
        lag_text = f"{lag['mean']:.2f} / {lag['p95']:.0f} / {lag['max']}" if lag else "-"
        low, high = row["ratio_range"]
        lines.append(
            f"| {row['workers']} | {row['steps_per_update']} | {row['contender']} | "
            f"{row['steps_per_s']:,.0f} | {row['updates_per_s']:,.0f} | "
            f"{row['ratio_to_processes']:.2f} ({low:.2f}-{high:.2f}) | "
            f"{row['whole_run_ratio']:.2f} | {lag_text} |"
        )
    lines.append("")
    return lines


def _memory_task(data: dict[str, Any]) -> list[str]:
    lines = [
        f"### Memory task: {data['env']} (last-100 training mean >= {data['threshold']:g} within"
        " 1M steps)",
        "",
        f"Measured {data['date']} on {data['machine']}. `python -m benchmarks.memory_task"
        f" --seeds {len(data['runs']['lstm'])}`. The env's preset; the MLP policy is the same"
        " preset with `lstm=False`.",
        "",
        "| policy | solved | steps to solve (per seed) | seconds to solve (per seed) |"
        " best last-100 mean (per seed) |",
        "|---|---|---|---|---|",
    ]
    for policy, rows in data["runs"].items():
        solved = sum(r["solved"] for r in rows)
        steps = ", ".join(f"{r['steps_to_solve']:,}" if r["solved"] else "-" for r in rows)
        secs = ", ".join(f"{r['time_to_solve_s']:.0f}" if r["solved"] else "-" for r in rows)
        best = ", ".join(f"{r['best_last100']:.1f}" for r in rows)
        lines.append(f"| {policy} | {solved}/{len(rows)} | {steps} | {secs} | {best} |")
    lines.append("")
    if data.get("note"):
        lines += [data["note"], ""]
    return lines


def _atari(game: str, runs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    from benchmarks.atari import REFERENCES

    lines = [f"### Atari: {game} on this machine", ""]
    references = REFERENCES.get(game, [])
    if references:
        lines += ["Published references (their budgets, not ours):", ""]
        lines += ["| source | score | budget and protocol |", "|---|---|---|"]
        lines += [f"| {source} | {score} | {budget} |" for source, score, budget in references]
        lines.append("")
    lines += [
        "Runs of `python -m benchmarks.atari` (the env's preset, with the options listed); each "
        "evaluation is the mean score of whole games played by the greedy policy:",
        "",
        "| run | env | measured | workers x games | hours | steps | best eval | last eval | "
        "last-100 training | target reached |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, data in runs:
        if data.get("target") is None:
            reached = "-"
        elif data["time_to_target_h"] is None:
            reached = f"{data['target']:g} not reached"
        else:
            reached = (
                f"{data['target']:g} after **{data['time_to_target_h']:.2f} h** "
                f"({data['steps_to_target']:,} steps)"
            )
        lines.append(
            f"| {name} | {data['env_id']} | {data['date']} | {data['workers']} x "
            f"{data['envs_per_worker']} | {data['hours']:.2f} | {data['steps']:,} | "
            f"{data['best_eval']:.1f} | {data['last_eval']:.1f} | "
            f"{data.get('train_last100', float('nan')):.1f} | {reached} |"
        )
    lines.append("")
    for name, data in runs:
        settings = ", ".join(f"{key} {value}" for key, value in data["settings"].items())
        lines.append(f"- **{name}**: on {data['machine']}; settings: {settings}.")
        if data.get("note"):
            lines.append(f"  {data['note']}")
    lines += ["", f"![{game}](results/atari_{game}.png)", ""]
    return lines


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _suite(data: dict[str, Any], name: str) -> list[str]:
    sources = [
        f"{i}. {src['date']} on {src['machine']}: `{src['command']}`"
        for i, src in enumerate(data["sources"], 1)
    ]
    episodes = {
        r["settings"]["eval_episodes"]
        for env in data["envs"]
        for c in env["contenders"].values()
        for r in c["runs"]
    }
    threads = {
        r["config"]["torch_threads"]
        for env in data["envs"]
        for name, c in env["contenders"].items()
        if name.startswith("sb3-")
        for r in c["runs"]
    }
    lines = [
        f"### Suite: {data['title']}",
        "",
        f"`benchmarks/suite.py`; merged {data['date']} from the runs of these commands (the"
        " *source* column says which run each row's seeds come from):",
        "",
        *sources,
        "",
        "Every run trains its whole budget (the RL-Zoo A2C `n_timesteps`; the family defaults "
        "twice the budget of the env's preset, its `total_steps`, by default: *steps trained* "
        "says, and where it says so an SB3 run stopped at "
        "its time limit, unsolved here if it had not reached the bar by then), nobody stops at "
        "the bar. *Reached*: seeds "
        "whose mean return of the last 100 training episodes got to the bar; time and steps are "
        "the first time it did (median over seeds, an unsolved seed infinitely slow; steps over "
        "solved seeds). *Last-100*: that mean at the end of training; *eval*: "
        f"{'/'.join(map(str, sorted(episodes)))} deterministic episodes of the final policy; "
        "both medians over seeds. *Published*: the RL-Zoo's own score (benchmark.md: one run, "
        "deterministic evaluation, after the zoo's budget); a peer *not run here* has only that "
        "row, source *zoo*. Bars marked * are the RL-Zoo A2C published score at 1M steps."
        + (
            f" SB3 ran with {'/'.join(map(str, sorted(threads)))} PyTorch thread(s)"
            " (`--sb3-threads`); a3c's workers take one each."
            if threads
            else ""
        ),
        "",
        "| env | bar | contender | steps trained | reached | median s to bar |"
        " median steps to bar | last-100 | eval | published | source |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for env in data["envs"]:
        bar = f"{env['bar']:g}{'*' if env['bar_is_zoo_score'] else ''}"
        for contender, c in env["contenders"].items():
            label = contender
            if contender.startswith("a3c"):  # the env's preset, or its family's defaults
                got = {
                    f"preset {r['config']['preset']}"
                    if r["config"]["preset"]
                    else f"no preset: {r['config'].get('family') or 'the'} defaults"
                    for r in c["runs"]
                }
                label += f" ({', '.join(sorted(got))})"
                masks = {
                    r.get("settings", {}).get("a3c_config", {}).get("action_mask", "none")
                    for r in c["runs"]
                } - {"none"}
                if masks:  # a mask the environment gives (a3c.masks), which SB3's peers ignore
                    notes.append(
                        f"- {env['env']}, {contender}: reads the action mask the environment "
                        f"gives ({', '.join(sorted(masks))}; see a3c.masks), which SB3's A2C and "
                        "PPO do not (sb3-contrib's MaskablePPO would)."
                    )
            published = {"sb3-a2c": env["zoo_a2c"], "sb3-ppo": env["zoo_ppo"]}.get(contender)
            budgets = "-".join(f"{b:,}" for b in c["budgets"])
            ran = statistics.median(r["steps"] for r in c["runs"])
            limited = [r for r in c["runs"] if r.get("time_limited")]
            if limited:  # SB3 stopped by --sb3-time-limit
                limits = "/".join(
                    f"{t:,.0f}" for t in sorted({r["settings"]["time_limit_s"] for r in limited})
                )
                cut = statistics.median(r["steps"] for r in limited)
                budgets += f" ({len(limited)} stopped at {limits} s, after {cut:,.0f})"
            elif ran > 1.01 * max(c["budgets"]):  # PPO completes its last rollout
                budgets += f" (ran {ran:,.0f})"
            source = ", ".join(sorted({str(r["source"]) for r in c["runs"]}))
            lines.append(
                f"| {env['env']} | {bar} | {label} | {budgets} | {c['solved']}/{len(c['runs'])} |"
                f" {_number(c['median_time_s'])} | {_number(c['median_steps'], 0)} |"
                f" {_number(c['median_final_last100'])} | {_number(c['median_eval'])} |"
                f" {_number(published)} | {source} |"
            )
        # a peer that did not run here (MuJoCo's 1M steps of SB3 take about 25 minutes each):
        # its published score at the zoo's budget, the comparison for those envs
        for peer, score in (("sb3-a2c", env["zoo_a2c"]), ("sb3-ppo", env["zoo_ppo"])):
            if score is not None and peer not in env["contenders"] and "zoo_budgets" in env:
                lines.append(
                    f"| {env['env']} | {bar} | {peer} (not run here: the zoo's published score) |"
                    f" {env['zoo_budgets'][peer]:,} | - | - | - | - | - | {_number(score)} | zoo |"
                )
        for peer, note in env["peer_notes"].items():
            if note and peer in env["contenders"]:
                notes.append(f"- {env['env']}, {peer}: {note}.")
        if env["note"]:
            notes.append(f"- {env['env']}: {env['note']}.")
    ratio_rows = []
    for env in data["envs"]:
        ratios = env["ratios"]
        if ratios:
            cells = [
                "n/a"
                if peer not in ratios
                else ("<= " if peer in env.get("ratio_bounds", ()) else "")
                + _number(ratios[peer], 2)
                for peer in ("sb3-a2c", "sb3-ppo")
            ]
            ratio_rows.append(f"| {env['env']} | {' | '.join(cells)} |")
    if ratio_rows:
        lines += [
            "",
            "Median time to the bar, a3c (its preset) over each peer (targets: <= 0.5 against"
            " SB3 A2C, <= 1 against PPO); '-' where either median did not reach it; '<= x' where"
            " runs stopped by their time limit before the bar decide the peer's median (counted at"
            " the limit, which they would have needed more than):",
            "",
            "| env | a3c / sb3-a2c | a3c / sb3-ppo |",
            "|---|---|---|",
            *ratio_rows,
        ]
    else:  # no peer has run on these envs yet: no empty table
        lines += ["", "No SB3 run on these envs yet, so no ratios to a peer."]
    if notes:
        lines += ["", "Peers' hyper-parameters and published scores:", "", *notes]
    lines += ["", f"![{data['title']}](results/{name}.png)", ""]
    return lines


def _algorithms(data: dict[str, Any], name: str) -> list[str]:
    lines = [
        f"### The paper's four algorithms on {data['env']} "
        f"(last-100 training mean >= {data['threshold']:g})",
        "",
        f"Measured {data['date']} on {data['machine']}. `python -m benchmarks.algorithms "
        f"--env {data['env']} --seeds {data['seeds']}`: each algorithm from its preset "
        "(stop at the threshold; "
        + (f"at most {data['budget']:,} steps)." if data["budget"] else "its own step budget)."),
        "",
        "| algorithm | preset (budget) | solved | median s | median steps | per-seed s (steps) |",
        "|---|---|---|---|---|---|",
    ]
    for algo, rows in data["runs"].items():
        per_seed = ", ".join(
            f"{r['time_to_solve_s']:.1f} ({r['steps_to_solve']:,})" if r["solved"] else "unsolved"
            for r in rows
        )
        lines.append(
            f"| {algo} | `{rows[0]['preset']}` ({rows[0].get('budget', 0):,}) | "
            f"{_solved_cells(rows)} | {per_seed} |"
        )
    if data.get("scaling"):
        lines += [
            "",
            "Worker scaling (steps/s of each preset, the rate between the first and last log "
            "records of a fixed-length run):",
            "",
            "| algorithm | 1 worker | 2 workers | speed-up |",
            "|---|---|---|---|",
        ]
        for algo, row in data["scaling"].items():
            lines.append(
                f"| {algo} | {row['one']['steps_per_s']:,.0f} | {row['two']['steps_per_s']:,.0f} "
                f"| {row['speedup']:.2f}x |"
            )
    lines += ["", f"![{data['env']}: four algorithms](results/{name}.png)", ""]
    return lines


def save_results(results: Path, stem: str, data: dict[str, Any]) -> Path:
    """Write one benchmark's JSON into ``results`` and regenerate RESULTS.md (returned)."""
    results.mkdir(parents=True, exist_ok=True)
    stem = stem.replace("/", "-")  # ALE/Pong-v5 names a file, not a folder
    (results / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n")
    return write_report(results)


def write_report(results: Path = RESULTS) -> Path:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks.report` from the JSON in `results/`, which the",
        "benchmark scripts write; every figure below comes from one run of a script, all",
        "contenders of a table measured one after another in that run, on the same machine.",
        "",
        "Time-to-solve contenders. **a3c**: the environment's preset (`src/a3c/presets/`), "
        "processes backend, with evaluation, TensorBoard and the progress bar off and a stop at "
        "the threshold; time from the trainer's start, worker start-up included. **sb3-a2c**, "
        "**sb3-ppo**: Stable-Baselines3 with the RL-Zoo's hyper-parameters "
        "(`benchmarks/peers.py`), stopped by a callback on the same 100-episode window; time from "
        "the `learn` call; PyTorch's default thread count. An unsolved seed counts as infinitely "
        "slow in the median time; median steps are over solved seeds.",
        "",
    ]
    for path in sorted(results.glob("time_to_solve_*.json")):
        lines += _time_to_solve(json.loads(path.read_text()), path.stem)
    for path in sorted(results.glob("throughput_*.json")):
        lines += _throughput(json.loads(path.read_text()), path.stem)
    for path in sorted(results.glob("profile_*.json")):
        lines += _profile(json.loads(path.read_text()))
    for path in sorted(results.glob("lstm_memory_task.json")):
        lines += _memory_task(json.loads(path.read_text()))
    for path in sorted(results.glob("memory_*.json")):
        lines += _memory(json.loads(path.read_text()))
    from benchmarks.atari import runs_of

    games = sorted({json.loads(path.read_text())["game"] for path in results.glob("atari_*.json")})
    for game in games:
        lines += _atari(game, runs_of(game, results))
    for path in sorted(results.glob("algorithms_*.json")):
        lines += _algorithms(json.loads(path.read_text()), path.stem)
    for path in sorted(results.glob("ray_backend_*.json")):
        lines += _ray_backend(json.loads(path.read_text()))
    suites = [(json.loads(path.read_text()), path.stem) for path in results.glob("suite_*.json")]
    for data, name in sorted(suites, key=lambda item: item[0]["order"]):
        lines += _suite(data, name)
    out = results.parent / "RESULTS.md"
    out.write_text("\n".join(lines))
    return out


if __name__ == "__main__":
    print(write_report())
