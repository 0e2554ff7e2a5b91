"""The protocol package stays free of I/O: no event loop, socket, thread, process or web framework.

Not only its own imports: every labdeck module a protocol module imports (and the
packages that import runs, ``labdeck/__init__.py`` included) is followed, so that
``from labdeck.hub import X`` inside ``protocol/`` fails as surely as ``import asyncio``.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable
from pathlib import Path

import labdeck
import labdeck.protocol

FORBIDDEN = {"asyncio", "socket", "threading", "aiohttp", "subprocess", "selectors", "ssl", "http"}
PROTOCOL_DIR = Path(labdeck.protocol.__file__).parent
SRC = Path(labdeck.__file__).parent.parent


def imported_modules(source: str, package: str | None = None) -> set[str]:
    """The modules ``source`` imports when it runs, relative ones resolved against ``package``.

    ``from a import b`` names both ``a`` and ``a.b`` (``b`` may be a module). Imports under
    ``if TYPE_CHECKING:`` never run, so they are left out; without ``package``, so are
    relative imports.
    """
    names: set[str] = set()
    for node in _running_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            if base is not None:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _running_nodes(tree: ast.AST) -> Iterable[ast.AST]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (n for child in node.orelse for n in (child, *_running_nodes(child)))
            continue
        yield node
        yield from _running_nodes(node)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _absolute(node: ast.ImportFrom, package: str | None) -> str | None:
    if node.level == 0:
        return node.module
    if package is None:
        return None
    parts = package.split(".")
    base = parts[:len(parts) - node.level + 1]  # level 1 is the package itself
    return ".".join([*base, node.module] if node.module else base)


def _module_file(root: Path, name: str) -> Path | None:
    path = root.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_parents(name: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a``, ``a.b`` and ``a.b.c``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def io_imports(root: Path, start: Iterable[str], first_party: str = "labdeck") -> list[str]:
    """Every forbidden import reachable from the modules ``start`` under ``root``.

    Modules of ``first_party`` are followed (found as files under ``root``); anything else
    is only checked against :data:`FORBIDDEN`. Each offence reads ``a -> b: asyncio``,
    the chain of imports that leads to it.
    """
    chains = {name: [name] for name in start}
    todo = list(chains)
    offences = []
    while todo:
        name = todo.pop()
        path = _module_file(root, name)
        if path is None:
            continue
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for imported in sorted(imported_modules(path.read_text(encoding="utf-8"), package)):
            if imported.split(".")[0] in FORBIDDEN:
                offences.append(f"{' -> '.join(chains[name])}: {imported}")
            elif imported.split(".")[0] == first_party:
                for module in _with_parents(imported):
                    if module not in chains:
                        chains[module] = [*chains[name], module]
                        todo.append(module)
    return sorted(offences)


def _protocol_modules() -> list[str]:
    return sorted(".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
                  for path in PROTOCOL_DIR.rglob("*.py"))


def test_the_checker_sees_every_form_of_import() -> None:
    source = "import asyncio.events\nfrom http import client\nimport json\nif True:\n    import socket as s\n"
    assert imported_modules(source) == {"asyncio.events", "http", "http.client", "json", "socket"}


def test_the_checker_resolves_relative_imports_and_skips_type_checking_ones() -> None:
    source = textwrap.dedent("""
        from typing import TYPE_CHECKING
        from . import wire
        from .lifecycle import RunState
        from ..hub import Hub
        if TYPE_CHECKING:
            from labdeck.deck import Deck
        else:
            import json
        def later():
            import threading
        """)
    assert imported_modules(source, "labdeck.protocol") == {
        "typing", "typing.TYPE_CHECKING", "labdeck.protocol", "labdeck.protocol.wire",
        "labdeck.protocol.lifecycle", "labdeck.protocol.lifecycle.RunState", "labdeck.hub", "labdeck.hub.Hub",
        "json", "threading"}


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")


def test_the_checker_follows_first_party_imports_to_an_indirect_offence(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "lab/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import lab.server\n",
        "lab/protocol/__init__.py": "",
        "lab/protocol/clean.py": "import json\nfrom lab.helpers import tidy\n",
        "lab/protocol/relative.py": "from ..hub import Hub\n",
        "lab/helpers.py": "from .deep import work\n",
        "lab/deep.py": "import math\nimport asyncio\n",
        "lab/hub/__init__.py": "from .queues import Queue\n",
        "lab/hub/queues.py": "import threading\n",
        "lab/server.py": "import aiohttp\n",  # only under TYPE_CHECKING: never imported
    })
    assert io_imports(tmp_path, ["lab.protocol.clean"], "lab") == [
        "lab.protocol.clean -> lab.helpers -> lab.deep: asyncio"]
    assert io_imports(tmp_path, ["lab.protocol.relative"], "lab") == [
        "lab.protocol.relative -> lab.hub -> lab.hub.queues: threading"]


def test_the_checker_finds_nothing_in_a_pure_tree(tmp_path: Path) -> None:
    _tree(tmp_path, {"lab/__init__.py": "", "lab/protocol/__init__.py": "from . import wire\n",
                     "lab/protocol/wire.py": "import json\nfrom lab.errors import Bad\n", "lab/errors.py": ""})
    assert io_imports(tmp_path, ["lab.protocol", "lab.protocol.wire"], "lab") == []


def test_no_protocol_module_imports_io_even_indirectly() -> None:
    modules = _protocol_modules()
    assert {"labdeck.protocol", "labdeck.protocol.wire", "labdeck.protocol.link"} <= set(modules)
    offences = io_imports(SRC, modules)
    assert not offences, f"protocol modules must not do I/O: {offences}"
