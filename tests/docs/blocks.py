"""The fenced code blocks of the README and the docs, and what a test does with each.

A block is named ``page#n``: the page's path from the repository root and the block's place
among the page's fenced blocks, counting from 0 (``docs/tutorial.md#4`` is the tutorial's
fifth block). The table of ``tests/test_docs_blocks.py`` gives each name one of:

- :class:`Run` — run for real by the runner named ``how`` (see ``tests/docs/runners.py``);
- :class:`Covered` — another test runs it; the node ids are checked to exist;
- :class:`Skip` — nothing in a test can run it, for the reason given.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", re.S | re.M)


@dataclass(frozen=True)
class Block:
    name: str
    """``page#n``."""
    where: str
    """``page:line``, for messages."""
    lang: str
    code: str


@dataclass(frozen=True)
class Run:
    """Run the block for real with the runner ``how``."""

    how: str
    setup: str = ""
    """Python put before the block: the names a fragment takes from the text around it."""
    files: dict[str, str] = field(default_factory=dict)
    """Files laid out beside it: a relative path and its text, or the name of another block."""
    config: dict[str, Any] | None = None
    """A script's run configuration (``None``: the project's default)."""
    stdin: str = ""
    expect: str = ""
    """What the block prints: for a script, lines its log has; in a browser, a regular
    expression a whole console line matches; for a rig, the ``repr`` of its answer."""


@dataclass(frozen=True)
class Covered:
    """Run by the tests named (node ids, ``tests/x.py::test_y``)."""

    tests: tuple[str, ...]

    def __init__(self, *tests: str) -> None:
        object.__setattr__(self, "tests", tests)


@dataclass(frozen=True)
class Skip:
    reason: str


Entry = Run | Covered | Skip


def all_blocks() -> dict[str, Block]:
    """Every fenced block of every page, by name."""
    found = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        rel = page.relative_to(ROOT).as_posix()
        for n, m in enumerate(FENCE.finditer(text)):
            line = text[: m.start()].count("\n") + 1
            code = "\n".join(row[len(m[1]):] for row in m[3].splitlines()) + "\n"
            found[f"{rel}#{n}"] = Block(f"{rel}#{n}", f"{rel}:{line}", m[2], code)
    return found


def missing_test(node_id: str) -> str | None:
    """Why ``node_id`` names no test function (``None`` when it does)."""
    path, _, rest = node_id.partition("::")
    names = rest.split("[")[0].split("::")
    file = ROOT / path
    if not path.startswith("tests/") or not file.is_file():
        return f"{node_id}: no test file {path}"
    scope: list[ast.stmt] = ast.parse(file.read_text(encoding="utf-8")).body
    for name in names:
        found = [node for node in scope if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                 and node.name == name]
        if not found or not name.startswith(("test_", "Test")):
            return f"{node_id}: {path} has no test {name}"
        scope = found[0].body
    return None
