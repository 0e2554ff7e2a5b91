"""Which modules a module reaches through its imports, read from the source, not run.

Used by the purity test of ``protocol/`` (no I/O, even indirectly) and by the capability
test (no capability folder reaches ``deck.py`` or ``web/app.py``). Modules of the first
party (``labdeck``) are followed, found as files under a root folder; anything else is
only recorded. Imports inside functions count; those under ``if TYPE_CHECKING:`` never
run, so they count only when asked for (``typing=True``).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from pathlib import Path

import labdeck

SRC = Path(labdeck.__file__).parent.parent


def imported_modules(source: str, package: str | None = None, *, typing: bool = False) -> set[str]:
    """The modules ``source`` imports, relative ones resolved against ``package``.

    ``from a import b`` names both ``a`` and ``a.b`` (``b`` may be a module). Without
    ``package``, relative imports are left out.
    """
    names: set[str] = set()
    for node in _nodes(ast.parse(source), typing):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            if base is not None:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _nodes(tree: ast.AST, typing: bool) -> Iterable[ast.AST]:
    for node in ast.iter_child_nodes(tree):
        if not typing and isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (n for child in node.orelse for n in (child, *_nodes(child, typing)))
            continue
        yield node
        yield from _nodes(node, typing)


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


def module_file(root: Path, name: str) -> Path | None:
    """The source file of module ``name`` under ``root``, or ``None``."""
    path = root.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_parents(name: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a``, ``a.b`` and ``a.b.c``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def module_imports(root: Path, name: str, *, typing: bool = False) -> set[str]:
    """What module ``name`` under ``root`` imports itself (nothing for a name that is no file)."""
    path = module_file(root, name)
    if path is None:
        return set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imported_modules(path.read_text(encoding="utf-8"), package, typing=typing)


def offences(root: Path, start: Iterable[str], forbidden: Callable[[str], bool],
             first_party: str = "labdeck") -> list[str]:
    """Every import ``forbidden`` accepts that the modules ``start`` reach when they run.

    Each offence reads ``a -> b: asyncio``, the chain of imports that leads to it.
    """
    chains = {name: [name] for name in start}
    todo = list(chains)
    found = []
    while todo:
        name = todo.pop()
        for imported in sorted(module_imports(root, name)):
            if forbidden(imported):
                found.append(f"{' -> '.join(chains[name])}: {imported}")
            elif imported.split(".")[0] == first_party:
                for module in _with_parents(imported):
                    if module not in chains:
                        chains[module] = [*chains[name], module]
                        todo.append(module)
    return sorted(set(found))


def modules_under(root: Path, package: str) -> list[str]:
    """``package`` and every module in its folder under ``root``."""
    folder = root.joinpath(*package.split("."))
    return sorted(".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
                  for p in folder.rglob("*.py"))
