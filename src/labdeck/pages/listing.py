"""Directory listings of read-only folders: names, human-readable sizes, content types.

Hidden entries (a leading dot) are never listed, as the path rules never serve them;
symlinks are listed only when they lead to something inside the root. Content types come
from the standard table (:mod:`mimetypes`), the one file responses use too.
"""

from __future__ import annotations

import mimetypes
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from labdeck.exceptions import BadRequest

__all__ = ["COLUMNS", "Entry", "content_type", "human_size", "list_folder"]

COLUMNS = (("name", "Name"), ("size", "Size"), ("type", "Type"), ("mtime", "Modified"))
_UNITS = ("KB", "MB", "GB", "TB", "PB")


def human_size(size: int) -> str:
    """``532 B``, ``1.4 KB``, ``12 MB``: powers of 1024, three significant figures at most."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Entry:
    """One row of a listing."""

    name: str
    folder: bool
    size: int
    mtime: float
    type: str

    @property
    def href(self) -> str:
        return quote(self.name) + ("/" if self.folder else "")

    @property
    def human(self) -> str:
        return "" if self.folder else human_size(self.size)

    @property
    def modified(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.mtime))


def content_type(name: str) -> str:
    """The standard content type of a file called ``name``; unknown ones are octet streams."""
    found, _ = mimetypes.guess_type(name, strict=False)
    return found or "application/octet-stream"


def list_folder(folder: Path, root: Path, sort: str = "name", order: str = "asc") -> list[Entry]:
    """The visible entries of ``folder`` (inside ``root``), folders first, sorted by ``sort``.

    Raises:
        BadRequest: an unknown ``sort`` column or ``order``.
    """
    if sort not in {key for key, _ in COLUMNS} or order not in ("asc", "desc"):
        raise BadRequest(f"sort must be one of name, size, type, mtime and order asc or desc, "
                         f"not {sort[:20]!r} {order[:20]!r}")
    base = root.resolve()
    entries = []
    with os.scandir(folder) as found:
        for item in found:
            if item.name.startswith(".") or not item.name.isprintable():
                continue
            try:
                real = Path(item.path).resolve(strict=True)
                st = real.stat()
            except (OSError, RuntimeError):
                continue
            if not real.is_relative_to(base):
                continue
            is_dir = real.is_dir()
            entries.append(Entry(item.name, is_dir, 0 if is_dir else st.st_size, st.st_mtime,
                                 "folder" if is_dir else content_type(item.name)))
    key = {"name": lambda e: e.name.lower(), "size": lambda e: e.size, "type": lambda e: e.type,
           "mtime": lambda e: e.mtime}[sort]
    entries.sort(key=key, reverse=order == "desc")
    entries.sort(key=lambda e: not e.folder)  # stable: folders first, each group in order
    return entries
