"""Finding capabilities: the built-in ones, and third-party ones through entry points.

A third-party package announces a capability in its ``pyproject.toml``::

    [project.entry-points."labdeck.capabilities"]
    stage = "labdeck_stage:Stage"

The entry point's name is the capability's name and its config section: a
``[stage]`` table in ``labdeck.toml`` enables it. A section no capability claims, and
an entry point that fails to load or is not a :class:`~labdeck.capability.Capability`,
are each one :class:`~labdeck.exceptions.ConfigError` line naming it.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from labdeck.capability import Capability, Command
from labdeck.exceptions import ConfigError

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "builtin", "commands", "installed", "load", "resolve"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "labdeck.capabilities"
BUILTIN = (
    "labdeck.runner.capability:RunnerCapability",
    "labdeck.watch.capability:WatchCapability",
    "labdeck.rigs.capability:RigsCapability",
    "labdeck.compat.rtcloud.config:RtcloudCapability",
)
"""The capabilities shipped with labdeck, in the order they start. Those marked ``always``
run in every server; the others when the configuration has their section."""


@functools.cache
def builtin() -> tuple[type[Capability], ...]:
    """The built-in capability classes, in start order."""
    found = []
    for ref in BUILTIN:
        module, _, attr = ref.partition(":")
        found.append(getattr(importlib.import_module(module), attr))
    return tuple(found)


def installed() -> dict[str, EntryPoint]:
    """The third-party capabilities installed, by name (not loaded)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


@functools.cache
def load(name: str) -> type[Capability]:
    """Load the installed capability ``name``.

    Raises:
        ConfigError: none is installed under that name, it fails to import, or it is
            not a :class:`Capability` subclass named ``name``.
    """
    for cls in builtin():
        if cls.name == name:
            return cls
    ep = installed().get(name)
    if ep is None:
        raise ConfigError(f"capability {name!r} is not installed")
    try:
        cls = ep.load()
    except Exception as exc:
        raise ConfigError(f"capability {name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Capability)):
        raise ConfigError(f"capability {name!r} ({ep.value}) is not a labdeck.capability.Capability subclass")
    if cls.name != name:
        raise ConfigError(f"capability {name!r} ({ep.value}) calls itself {cls.name!r}: the names must agree")
    return cls


def resolve(sections: Iterable[str]) -> list[type[Capability]]:
    """The capabilities a configuration enables: the ``always`` ones, then one per section.

    Raises:
        ConfigError: a section's capability is missing or broken.
    """
    found = [cls for cls in builtin() if cls.always]
    names = {cls.name for cls in found}
    for name in sections:
        if name not in names:
            found.append(load(name))
            names.add(name)
    return found


def commands() -> list[Command]:
    """The CLI sub-commands of every capability installed.

    A third-party capability that fails to load is skipped here with a warning: the
    command line must keep working for ``labdeck user add`` and the like; the error
    is raised in full once a configuration enables it.
    """
    found = [cmd for cls in builtin() for cmd in cls.commands]
    for name in installed():
        try:
            cls = load(name)
        except ConfigError as exc:
            log.warning("%s", exc)
            continue
        if cls not in builtin():
            found.extend(cls.commands)
    return found
