"""``[rtcloud]``: the folders and file types a script's ``dataInterface`` may use.

::

    [rtcloud]
    allowed_dirs = ["scans", "/data/masks"]    # relative to labdeck.toml's folder
    allowed_file_types = [".dcm", ".txt"]      # "*" allows any

Beyond ``allowed_dirs``, a script run by labdeck may also use the folder of every
``[watch.<name>]`` and its run's own folder (``LABDECK_RUN_DIR``). The server checks the
section when it starts (:class:`RtcloudCapability`); the script reads the same file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from labdeck.capability import Capability

__all__ = ["DEFAULT_FILE_TYPES", "Allowed", "RtcloudCapability", "RtcloudConfig", "allowed_by_project"]

DEFAULT_FILE_TYPES = (".dcm", ".mat", ".txt", ".json", ".nii", ".nii.gz")
"""What ``allowed_file_types`` is when the section does not say."""


class RtcloudConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The ``[rtcloud]`` table."""

    allowed_dirs: list[str] = msgspec.field(default_factory=list)
    """Folders (and everything under them) a script may read, watch and write."""
    allowed_file_types: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_FILE_TYPES))
    """Endings of the file names a script may read and write (``.dcm``); ``"*"`` allows any."""


class RtcloudCapability(Capability):
    """Claims and checks ``[rtcloud]``; it runs nothing in the server."""

    name = "rtcloud"
    config_type = RtcloudConfig


class Allowed(msgspec.Struct, frozen=True):
    """Resolved folders and file types; ``dirs`` ``None`` allows any folder."""

    dirs: tuple[Path, ...] | None
    file_types: tuple[str, ...]


def allowed_by_project(start: Path, run_dir: str | None) -> Allowed:
    """What the ``labdeck.toml`` in ``start`` or a folder above allows, plus ``run_dir``.

    Without a ``labdeck.toml``, only ``run_dir`` (and the default file types).

    Raises:
        ValueError: the ``[rtcloud]`` section is not what :class:`RtcloudConfig` reads.
    """
    dirs: list[Path] = [Path(run_dir)] if run_dir else []
    toml = next((f / "labdeck.toml" for f in (start, *start.parents) if (f / "labdeck.toml").is_file()), None)
    if toml is None:
        return Allowed(tuple(dirs), DEFAULT_FILE_TYPES)
    with toml.open("rb") as f:
        raw: dict[str, Any] = tomllib.load(f)
    try:
        section = msgspec.convert(raw.get("rtcloud", {}), RtcloudConfig)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{toml}: [rtcloud]: {exc}") from None
    base = toml.parent
    watches = raw.get("watch", {})
    paths = [*section.allowed_dirs, *(w["path"] for w in watches.values() if isinstance(w, dict) and "path" in w)]
    dirs += [base / os.path.expanduser(p) for p in paths if isinstance(p, str)]
    return Allowed(tuple(dirs), tuple(section.allowed_file_types))
