"""The public API is pinned: ``labdeck.__all__`` and every module's ``__all__`` agree with the code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from types import ModuleType

import pytest

import labdeck


def all_modules() -> list[str]:
    names = ["labdeck"]
    for info in pkgutil.walk_packages(labdeck.__path__, "labdeck."):
        if info.name != "labdeck.__main__":
            names.append(info.name)
    return sorted(names)


def public_definitions(module: ModuleType) -> set[str]:
    """Public classes and functions written in ``module`` itself (not imported into it)."""
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", None) == module.__name__
    }


def test_the_top_level_exports_exist_and_are_the_curated_set() -> None:
    missing = [name for name in labdeck.__all__ if not hasattr(labdeck, name)]
    assert not missing
    assert len(set(labdeck.__all__)) == len(labdeck.__all__)
    for name in ("Deck", "Config", "load_config", "LabdeckError", "BadRequest", "NotSerializable", "__version__"):
        assert name in labdeck.__all__


def test_every_top_level_export_is_reexported_from_its_module() -> None:
    for name in labdeck.__all__:
        obj = getattr(labdeck, name)
        home = getattr(obj, "__module__", None)
        if home and home != "labdeck" and (inspect.isclass(obj) or inspect.isfunction(obj)):
            assert name in importlib.import_module(home).__all__, f"labdeck.{name} is not in {home}.__all__"


# Modules whose public helpers are neither exported nor private yet; their owners decide
# which. Remove an entry once its module agrees (the test then passes as it should).
@pytest.mark.parametrize("name", all_modules())
def test_each_modules_all_agrees_with_what_it_defines(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
    missing = sorted(n for n in exported if not hasattr(module, n))
    assert not missing, f"{name}.__all__ names what it does not have: {missing}"
    unlisted = sorted(public_definitions(module) - set(exported))
    assert not unlisted, f"{name} defines public names missing from __all__: {unlisted}"


def test_every_lazy_export_is_listed_and_resolves() -> None:
    assert set(labdeck.__all__) - {"__version__"} == set(labdeck._EXPORTS)
    for name in labdeck.__all__:
        assert getattr(labdeck, name) is not None


def test_a_script_importing_labdeck_script_does_not_load_the_web_server() -> None:
    code = (
        "import sys; from labdeck import script; "
        "print(sorted(m for m in ('aiohttp', 'labdeck.deck') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
