"""A module holds one idea: past about 300 lines it says at its top why it is longer."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 300
REASON = "Longer than most modules"


def test_every_long_module_says_why() -> None:
    silent = []
    for path in [
        *ROOT.glob("ndtms/**/*.py"),
        *ROOT.glob("services/**/*.py"),
        *ROOT.glob("ndtms_apps/**/*.py"),
        *ROOT.glob("clients/python/src/**/*.py"),
    ]:
        text = path.read_text()
        if text.count("\n") > LIMIT and REASON not in (ast.get_docstring(ast.parse(text)) or ""):
            silent.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not silent, f"over {LIMIT} lines without saying why at the top: {silent}"
