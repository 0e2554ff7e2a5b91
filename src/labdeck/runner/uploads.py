"""Files uploaded into the project's data folders, for scripts to use.

The rules (``[run]`` of the config), checked in this order:

1. the folder must be one of ``upload_dirs``, by name (``NotFound`` otherwise);
2. the file name is a single plain name: no ``/`` or ``\\``, not ``.`` or ``..``, not
   hidden (leading ``.``), no control characters, at most 255 bytes (``BadRequest``);
3. it matches one of ``upload_patterns`` (``AccessDenied``);
4. the content is at most ``upload_max`` bytes; the write stops as soon as it is over
   (``TooLarge``);
5. a file of that name is not replaced unless ``upload_overwrite`` (``AlreadyExists``).

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
    overwrite: bool

    def target(self, name: str) -> Path:
        """Where ``name`` would be written, after every name rule.

        Raises:
            BadRequest, AccessDenied, AlreadyExists: as the module docstring says.
        """
        check_file_name(name)
        if not any(fnmatch.fnmatchcase(name, p) for p in self.patterns):
            raise AccessDenied(f"{name!r} matches none of the allowed patterns {', '.join(self.patterns)}")
        folder = self.path.resolve()
        dest = folder / name
        if dest.parent != folder:
            raise BadRequest(f"{name!r} does not stay inside the upload folder")
        if not self.overwrite and (dest.exists() or dest.is_symlink()):
            raise AlreadyExists(f"{name!r} is already in {self.name!r} and overwriting is not allowed")
        return dest

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
            if self.overwrite:
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
                "overwrite": self.overwrite}

    def listing(self) -> list[dict[str, Any]]:
        """The plain files in the folder (not hidden, not symlinks): name, size, mtime."""
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
    path = run.upload_dirs.get(name)
    if path is None:
        raise NotFound(f"no upload folder named {name!r}")
    return UploadFolder(name, config.resolve(path), run.upload_max, tuple(run.upload_patterns), run.upload_overwrite)


def upload_folders(config: Config) -> list[UploadFolder]:
    """Every configured upload folder, in the order of ``upload_dirs``."""
    return [upload_folder(config, name) for name in config.run.upload_dirs]
