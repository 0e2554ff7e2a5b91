"""The protocol package stays free of I/O: no event loop, socket, thread, process or web framework."""

from __future__ import annotations

import ast
from pathlib import Path

import labdeck.protocol

FORBIDDEN = {"asyncio", "socket", "threading", "aiohttp", "subprocess", "selectors", "ssl", "http"}
PROTOCOL_DIR = Path(labdeck.protocol.__file__).parent


def imported_modules(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_checker_sees_every_form_of_import() -> None:
    source = "import asyncio.events\nfrom http import client\nimport json\nif True:\n    import socket as s\n"
    assert imported_modules(source) == {"asyncio.events", "http", "json", "socket"}


def test_no_protocol_module_imports_io() -> None:
    modules = sorted(PROTOCOL_DIR.rglob("*.py"))
    assert PROTOCOL_DIR / "wire.py" in modules
    offenders = {
        f"{path.relative_to(PROTOCOL_DIR)}: {name}"
        for path in modules
        for name in imported_modules(path.read_text(encoding="utf-8"))
        if name.split(".")[0] in FORBIDDEN
    }
    assert not offenders, f"protocol modules must not do I/O: {sorted(offenders)}"
