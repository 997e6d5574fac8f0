"""A Griffe extension for the API reference: our docstrings are written for Sphinx-style readers
(``:class:`~a3c.Config``` roles, ``>>>`` examples); this turns them into what mkdocstrings
renders well (the role's name in backticks, the examples in a Python code block)."""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension

ROLE = re.compile(r":(?:class|meth|func|mod|data|attr|exc):`~?([^`]+)`")


def _short(match: re.Match[str]) -> str:
    target = match.group(1)
    shown = target.rsplit(".", 1)[-1] if match.group(0).count("~") else target
    return f"`{shown}`"


def _examples(text: str) -> str:
    """Runs of ``>>>``/``...`` lines as fenced Python, without doctest directives."""
    lines, out, block = text.splitlines(), [], []
    for line in [*lines, ""]:
        stripped = line.strip()
        if stripped.startswith((">>>", "...")):
            code = stripped[4:] if len(stripped) > 3 else ""
            block.append(re.sub(r"\s*# doctest:.*$", "", code))
            continue
        if block:
            out += ["```python", *block, "```"]
            block = []
        out.append(line)
    return "\n".join(out[:-1] if out and out[-1] == "" and not text.endswith("\n") else out)


class RstDocstrings(Extension):
    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        docstring = getattr(obj, "docstring", None)
        if docstring is not None:
            docstring.value = _examples(ROLE.sub(_short, docstring.value))
