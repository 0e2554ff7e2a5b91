"""The rigs of a project, for an experiment script the runner starts.

An experiment's ``main`` script drives the rigs itself, over its own sockets, with the
``[rigs.<name>]`` sections of the project's ``labdeck.toml``: the same rigs, modes,
timeouts, keys and CAs as the server's Rigs panel, without a round trip through the
server (and without needing the operator's credentials: the script already runs on the
control PC). After each request the group tells the runner, over the script's link, how
it ended (:func:`labdeck.runner.script.report_rig`); the runner publishes it on
``run/rigs`` and the server's rigs capability shows it in the Rigs panel like its own
requests, marked with the run.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import msgspec

from labdeck.exceptions import ConfigError
from labdeck.protocol.link import RigReport
from labdeck.rigs.group import RigConfig, RigGroup, RigOutcome
from labdeck.runner.script import report_rig

__all__ = ["find_project_config", "project_rigs"]


def find_project_config(start: Path | None = None) -> Path:
    """``$LABDECK_CONFIG``, else the nearest ``labdeck.toml`` in ``start`` (the current
    folder by default) or a folder above it; the runner starts a script in its project.

    Raises:
        ConfigError: none found.
    """
    named = os.environ.get("LABDECK_CONFIG")
    if named:
        return Path(named)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "labdeck.toml").is_file():
            return folder / "labdeck.toml"
    raise ConfigError(f"no labdeck.toml in {here} or above it, and LABDECK_CONFIG is not set")


def project_rigs(config: str | os.PathLike[str] | None = None) -> RigGroup:
    """A :class:`RigGroup` of the ``[rigs.<name>]`` of ``config`` (found as
    :func:`find_project_config` does when ``None``); relative ``ca`` paths are the file's.

    Raises:
        ConfigError: the file cannot be read, or a rig's section is wrong.
    """
    path = Path(config) if config is not None else find_project_config()
    try:
        with path.open("rb") as f:
            sections = tomllib.load(f).get("rigs", {})
        configs = msgspec.convert(sections, dict[str, RigConfig])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: [rigs]: {exc}") from None
    for c in configs.values():
        if c.ca is not None:
            c.ca = str(path.parent / c.ca)
    return RigGroup.from_config(configs, report=_report)


def _report(done: RigOutcome) -> None:
    report_rig(RigReport(done.rig, done.event, done.outcome, done.rtt_ms, done.data, done.error))
