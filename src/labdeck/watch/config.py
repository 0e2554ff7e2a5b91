"""``[watch.<name>]``: one watched folder per table."""

from __future__ import annotations

from typing import Literal

import msgspec

from labdeck.watch.dicom.stations import SessionCheck

__all__ = ["DEFAULT_TOLERANCES", "SessionCheck", "WatchConfig", "tolerances_of"]

DEFAULT_TOLERANCES: dict[str, float] = {
    "TR": 1.0,
    "TE": 0.1,
    "FlipAngle": 0.5,
    "PixelSpacing": 0.005,
    "FoV": 1.0,
    "Bandwidth": 1.0,
}
"""How far a number may stray from its reference, in the parameter's unit."""


class WatchConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One ``[watch.<name>]`` table.

    Relative paths are relative to the config file's folder. A file counts once it has
    finished writing; see ``docs/howto/watch-folders.md``.
    """

    path: str
    """The folder watched (required). It may be missing at start: it is watched once it exists."""
    kind: Literal["files", "dicom"] = "files"
    """``dicom``: headers are read and checked against the reference protocols."""
    patterns: list[str] = msgspec.field(default_factory=lambda: ["*"])
    """Shell patterns a file's name must match (one of them)."""
    ignore: list[str] = msgspec.field(default_factory=lambda: [".*"])
    """Shell patterns of names never reported (temporary files that are renamed when done)."""
    recursive: bool = True
    """Follow subfolders, including those created later."""
    backend: Literal["auto", "inotify", "watchfiles"] = "auto"
    """``auto``: inotify on Linux, else watchfiles with a stability check."""
    settle: float = 1.0
    """Seconds a file found by a scan (not by an event) must stay unchanged before it counts."""
    retry_max: float = 5.0
    """Longest pause, in seconds, between restarts of a failed watcher."""
    tolerances: dict[str, float] = msgspec.field(default_factory=dict)
    """``dicom``: per-parameter tolerances over :data:`DEFAULT_TOLERANCES`."""
    learn: bool = True
    """``dicom``: learn references from the series seen (the most frequent set wins)."""
    session_checks: list[SessionCheck] = msgspec.field(default_factory=list)
    """``dicom``: parameters that must agree between the series of one session
    (``[[watch.<name>.session_checks]]`` tables with ``sequences`` and ``params``)."""


def tolerances_of(configs: dict[str, WatchConfig]) -> dict[str, float]:
    """The tolerances the ``dicom`` watches check with: the defaults, then each watch's."""
    tolerances = dict(DEFAULT_TOLERANCES)
    for config in configs.values():
        if config.kind == "dicom":
            tolerances.update(config.tolerances)
    return tolerances
