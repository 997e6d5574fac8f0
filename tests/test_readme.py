"""Every code block of the README and of the documentation pages works as written: the Python
ones run, for real, and every ``a3c ...`` command line of the shell ones is accepted by the real
argument parser."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from a3c.cli import parse_args

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
#: the README and the documentation site's pages (RESULTS.md, which scripts write, aside)
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(language: str) -> list[str]:
    return [
        m.group(2)
        for page in PAGES
        for m in FENCE.finditer(page.read_text())
        if m.group(1) == language
    ]


PYTHON = blocks("python")
COMMANDS = [
    line for block in blocks("bash") for line in block.splitlines() if line.startswith("a3c ")
]


def test_the_readme_has_the_blocks_these_tests_check():
    assert len(PYTHON) >= 2 and len(COMMANDS) >= 15


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_python_block_runs_as_written(index, tmp_path):
    """In a fresh interpreter and an empty working directory, as a user would paste it."""
    script = tmp_path / f"readme_block_{index}.py"
    script.write_text(PYTHON[index])
    out = subprocess.run(
        [sys.executable, script.name], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, f"{PYTHON[index]}\n{out.stderr[-3000:]}"
    assert out.stdout.strip(), "each example prints its result"


def as_argv(line: str) -> list[str]:
    """The command line with its placeholders filled in: ``[runs/<other> ...]`` (more of the
    same, optional) becomes one more, ``<run>`` becomes ``run``."""
    line = re.sub(r"\[([^\]]*?)\s*\.\.\.\]", r"\1", line)
    line = re.sub(r"<([\w-]+)>", r"\1", line)
    return shlex.split(line, comments=True)[1:]


def test_placeholders_are_filled_in():
    assert as_argv("a3c plot runs/<run> [runs/<other> ...]   # curves") == [
        "plot",
        "runs/run",
        "runs/other",
    ]


@pytest.mark.parametrize("line", COMMANDS)
def test_documented_command_line_parses(line, capsys):
    try:
        parse_args(as_argv(line))
    except SystemExit as exc:  # --help prints and exits 0; anything else is a refusal
        assert exc.code == 0, capsys.readouterr().err
