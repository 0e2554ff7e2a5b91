"""Files uploaded into the project's data folders, for scripts to use.

The rules (``[run]`` of the config, or a folder's own ``[run.upload_dirs.<name>]``
table), checked in this order:

1. the folder must be one of ``upload_dirs``, by name (``NotFound`` otherwise);
2. the file name is a single plain name: no ``/`` or ``\\``, not ``.`` or ``..``, not
   hidden (leading ``.``), no control characters, at most 255 bytes (``BadRequest``);
3. a new file's name matches one of the folder's ``create`` patterns (default
   ``upload_patterns``), and a name already there one of its ``overwrite`` patterns
   (default: every name when ``upload_overwrite``, none otherwise); ``AccessDenied`` for
   a name no pattern allows, ``AlreadyExists`` for a file that may not be replaced;
4. the content is at most ``max_bytes`` (default ``upload_max``) bytes; the write stops
   as soon as it is over (``TooLarge``).

A folder with ``listable = false`` takes uploads but does not list its files
(``AccessDenied``).

The content goes to a temporary file in the same folder, is flushed to disk, then takes
its name in one step (``link``, which fails if the name exists, or ``rename`` when
overwriting), so a script never sees half a file. The final path is checked to be
directly inside the folder as resolved on disk, so a symlink cannot lead a write
elsewhere; a name that is itself a symlink is never followed (rename replaces the link).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labdeck.config import Config
from labdeck.exceptions import AccessDenied, AlreadyExists, BadRequest, NotFound, TooLarge

__all__ = ["UploadFolder", "check_file_name", "upload_folder", "upload_folders"]


def check_file_name(name: str) -> str:
    """``name`` if it is a usable plain file name.

    Raises:
        BadRequest: it is a path, empty, hidden, too long or holds control characters.
    """
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise BadRequest(f"{name[:100]!r} is not a plain file name")
    if name.startswith(".") or not name.isprintable() or len(name.encode("utf-8", "replace")) > 255:
        raise BadRequest(f"{name[:100]!r} is not an allowed file name (hidden, unprintable or too long)")
    return name


@dataclass(frozen=True)
class UploadFolder:
    """One folder uploads may go to, with the rules that apply."""

    name: str
    path: Path
    max_bytes: int
    patterns: tuple[str, ...]
    """Names a new file may have."""
    replaceable: tuple[str, ...] = ()
    """Names of the files an upload may replace."""
    listable: bool = True

    @property
    def overwrite(self) -> bool:
        """Whether any file at all may be replaced."""
        return bool(self.replaceable)

    def target(self, name: str) -> Path:
        """Where ``name`` would be written, after every name rule.

        Raises:
            BadRequest, AccessDenied, AlreadyExists: as the module docstring says.
        """
        check_file_name(name)
        folder = self.path.resolve()
        dest = folder / name
        if dest.parent != folder:
            raise BadRequest(f"{name!r} does not stay inside the upload folder")
        if self.may_replace(name) and (dest.exists() or dest.is_symlink()):
            return dest
        if not _matches(name, self.patterns):
            raise AccessDenied(f"{name!r} matches none of the allowed patterns {', '.join(self.patterns)}")
        if dest.exists() or dest.is_symlink():
            raise AlreadyExists(f"{name!r} is already in {self.name!r} and may not be overwritten")
        return dest

    def may_replace(self, name: str) -> bool:
        return _matches(name, self.replaceable)

    async def write(self, name: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """Store the content of ``chunks`` as ``name``; ``{"path": name, "size": n}``.

        Raises:
            BadRequest, AccessDenied, AlreadyExists, TooLarge: nothing is left behind.
        """
        dest = self.target(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=dest.parent)
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise TooLarge(f"upload over the limit of {self.max_bytes} bytes")
                    f.write(chunk)
                f.flush()
                await asyncio.to_thread(os.fsync, f.fileno())
            if self.may_replace(name):
                os.replace(tmp, dest)
            else:
                try:
                    os.link(tmp, dest)  # fails if the name appeared meanwhile
                except FileExistsError:
                    raise AlreadyExists(f"{name!r} is already in {self.name!r}") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return {"path": name, "size": size}

    def rules(self) -> dict[str, Any]:
        """What a browser may know of the folder: its name and rules, never its path on disk."""
        return {"name": self.name, "max_bytes": self.max_bytes, "patterns": list(self.patterns),
                "overwrite": self.overwrite, "overwrite_patterns": list(self.replaceable), "listable": self.listable}

    def listing(self) -> list[dict[str, Any]]:
        """The plain files in the folder (not hidden, not symlinks): name, size, mtime.

        Raises:
            AccessDenied: the folder is not listable.
        """
        if not self.listable:
            raise AccessDenied(f"the upload folder {self.name!r} is not listable")
        if not self.path.is_dir():
            return []
        files = []
        for entry in sorted(os.scandir(self.path), key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            files.append({"name": entry.name, "size": st.st_size, "mtime": st.st_mtime})
        return files


def upload_folder(config: Config, name: str) -> UploadFolder:
    """The upload folder called ``name``.

    Raises:
        NotFound: no such folder is configured.
    """
    run = config.run
    entry = run.upload_dirs.get(name)
    if entry is None:
        raise NotFound(f"no upload folder named {name!r}")
    default_replace = ("*",) if run.upload_overwrite else ()
    if isinstance(entry, str):
        return UploadFolder(name, config.resolve(entry), run.upload_max, tuple(run.upload_patterns), default_replace)
    return UploadFolder(
        name, config.resolve(entry.path), entry.max_bytes or run.upload_max,
        tuple(run.upload_patterns if entry.create is None else entry.create),
        default_replace if entry.overwrite is None else tuple(entry.overwrite), entry.listable)


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def upload_folders(config: Config) -> list[UploadFolder]:
    """Every configured upload folder, in the order of ``upload_dirs``."""
    return [upload_folder(config, name) for name in config.run.upload_dirs]
