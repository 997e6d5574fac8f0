"""The benchmark report turns the scripts' JSON into RESULTS.md tables and ratios."""

import json

from benchmarks.report import write_report
from benchmarks.time_to_solve import median_time


def test_unsolved_seeds_count_as_infinitely_slow():
    rows = [{"solved": True, "time_to_solve_s": t} for t in (3.0, 5.0)]
    assert median_time([*rows, {"solved": False, "time_to_solve_s": None}]) == 5.0
    assert median_time([*rows[:1], *[{"solved": False, "time_to_solve_s": None}] * 2]) is None


def test_report_lists_every_contender_and_ratio(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    run = {"solved": True, "time_to_solve_s": 4.0, "steps_to_solve": 1000}
    data = {
        "env": "CartPole-v1",
        "threshold": 475.0,
        "machine": "m",
        "date": "d",
        "runs": {
            "a3c": [run],
            "sb3-a2c": [
                dict(run, time_to_solve_s=20.0),
                {"solved": False, "time_to_solve_s": None, "steps_to_solve": None},
            ],
        },
        "ratios": {"sb3-a2c": 0.2},
    }
    (results / "time_to_solve_CartPole-v1.json").write_text(json.dumps(data))
    text = write_report(results).read_text()
    assert "| a3c | 1/1 | 4.0 | 1,000 | 4.0 |" in text
    assert "| sb3-a2c | 1/2 | inf" not in text and "20.0, unsolved" in text
    assert "**0.20** (5.0x sooner)" in text
