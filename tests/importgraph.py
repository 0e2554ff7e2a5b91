"""Which labdeck modules a module reaches through its imports, read from the source.

The source is parsed, not imported, so a test can check a module without running it.
Imports inside functions count like the others; those under ``if TYPE_CHECKING:`` count
only when asked for (``typing=True``): they never run, but a reader still sees them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import labdeck

SRC = Path(labdeck.__file__).parent.parent


def module_file(name: str) -> Path | None:
    """The source file of labdeck module ``name``, or ``None`` for a name that is not one."""
    base = SRC.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _nodes(tree: ast.AST, typing: bool) -> Iterator[ast.AST]:
    for node in ast.iter_child_nodes(tree):
        if not typing and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in (child, *_nodes(child, typing)))
            continue
        yield node
        yield from _nodes(node, typing)


def direct_imports(name: str, *, typing: bool = False) -> Iterator[str]:
    """Every module ``name``'s source imports, absolute, relative ones resolved.

    ``from package import member`` yields ``package.member`` too when that is a module.
    """
    path = module_file(name)
    assert path is not None, f"no module {name}"
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _nodes(ast.parse(path.read_text(encoding="utf-8")), typing):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            yield module
            for alias in node.names:
                if module_file(f"{module}.{alias.name}") is not None:
                    yield f"{module}.{alias.name}"


def reached(name: str) -> dict[str, str]:
    """Every module ``name`` reaches (labdeck's followed, others not), each with its importer."""
    seen: dict[str, str] = {}
    done: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in done or module_file(current) is None:
            continue
        done.add(current)
        for imported in direct_imports(current):
            parts = imported.split(".")  # importing a.b.c runs a and a.b first
            for i in range(1, len(parts) + 1):
                seen.setdefault(".".join(parts[:i]), current)
                if parts[0] == "labdeck":
                    todo.append(".".join(parts[:i]))
    return seen


def chain(name: str, target: str, seen: dict[str, str]) -> str:
    """``name -> ... -> target``, the path by which ``target`` was reached."""
    steps = [target]
    while steps[-1] != name and steps[-1] in seen:
        steps.append(seen[steps[-1]])
    return " -> ".join(reversed(steps))


def modules_under(package: str) -> list[str]:
    """``package`` and every module in its folder."""
    path = module_file(package)
    assert path is not None and path.name == "__init__.py", f"{package} is not a package"
    folder = path.parent
    return sorted(
        ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__") for p in folder.rglob("*.py")
    )
