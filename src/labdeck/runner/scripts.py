"""From a ``[scripts]`` entry to the argv and folder a run starts with.

* ``main = "scripts/main.py"`` runs ``sys.executable -u scripts/main.py`` in the
  project folder (the folder of ``labdeck.toml``); a string that is not a ``.py`` file
  is a command line, split like a POSIX shell would.
* ``[scripts.acquire] command = ["./acq", "--fast"], cwd = "rig"`` runs the command in
  ``rig``; a first word ending in ``.py`` runs under ``sys.executable -u`` too.

The config check (:mod:`labdeck.config`) keeps every script inside the project folder;
whether the file exists is checked when a run starts, so a missing script is a failed
run with a clear message rather than a server that will not start.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from labdeck.config import Config, ScriptConfig, command_words
from labdeck.exceptions import NotFound

__all__ = ["ScriptCommand", "script_command"]


@dataclass(frozen=True)
class ScriptCommand:
    """How to start one script.

    Attributes:
        name: the script's name in the config.
        argv: the program and its arguments, paths absolute.
        cwd: the working folder.
        shown: the command as the config writes it, for people.
        missing: a file the command needs that is not there, or ``None``.
    """

    name: str
    argv: list[str]
    cwd: Path
    shown: str
    missing: Path | None


def script_command(config: Config, name: str) -> ScriptCommand:
    """The command of script ``name``.

    Raises:
        NotFound: no such script is configured; the message lists those that are.
    """
    entry = config.scripts.get(name)
    if entry is None:
        known = ", ".join(sorted(config.scripts)) or "none"
        raise NotFound(f"no script named {name!r} (configured: {known})")
    if isinstance(entry, str):
        entry = ScriptConfig(command=[entry] if entry.endswith(".py") else command_words(entry))
        shown = config.scripts[name]
        assert isinstance(shown, str)
    else:
        shown = entry.command if isinstance(entry.command, str) else shlex.join(entry.command)
    cwd = config.resolve(entry.cwd or ".")
    words = command_words(entry.command)
    program, rest = words[0], words[1:]
    missing: Path | None = None
    if program.endswith(".py") or "/" in program:
        path = (cwd / program).resolve()
        missing = None if path.is_file() else path
        program = str(path)
    argv = [sys.executable, "-u", program, *rest] if program.endswith(".py") else [program, *rest]
    return ScriptCommand(name, argv, cwd, shown, missing)
