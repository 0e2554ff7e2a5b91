"""Small files served from memory: a plain GET costs one ``stat``, no thread and no ``open``.

aiohttp's ``FileResponse`` hands every request to the thread pool up to three times (to
stat and open the file, to read it where ``sendfile`` is not available, as under uvloop,
and to close it). For the files a lab's pages are made of (style sheets, scripts, icons,
stimulus images of a few KB) those hops cost more than the file itself. So a file of at
most :data:`MAX_FILE` bytes is read once, kept, and answered from memory as long as its
``stat`` (modification time, size, inode) is unchanged; the read happens on the loop, which
for a file this small from the page cache is shorter than a hop to a thread.

Only a plain ``GET`` or ``HEAD`` takes this path: a request with ``Range`` or a conditional
header (``If-None-Match``, ``If-Modified-Since``, ...) and a file with a precompressed
sibling (``.gz``, ``.br``) get the ``FileResponse`` as before, which answers those. The
headers are those ``FileResponse`` sends: ``Content-Type`` from the standard table,
``ETag``, ``Last-Modified``, ``Accept-Ranges``. The cache is bounded by :data:`MAX_BYTES`
and forgets the least recently served file first.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import hdrs, web

__all__ = ["MAX_BYTES", "MAX_FILE", "CachedFile", "SmallFiles"]

MAX_FILE = 64 * 1024
"""Largest file kept in memory, in bytes."""
MAX_BYTES = 8 * 1024 * 1024
"""Most bytes one cache keeps."""
_CONDITIONS = (hdrs.RANGE, hdrs.IF_MATCH, hdrs.IF_NONE_MATCH, hdrs.IF_MODIFIED_SINCE, hdrs.IF_UNMODIFIED_SINCE,
               hdrs.IF_RANGE)
_COMPRESSED = (".gz", ".br")


class CachedFile(web.Response):
    """A file answered from memory (the request statistics count it as a file served)."""


@dataclass(frozen=True)
class _Entry:
    stamp: tuple[int, int, int]
    body: bytes | None  # None: the file has a precompressed sibling, FileResponse serves it
    content_type: str
    mtime: float


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_mtime_ns, st.st_size, st.st_ino


class SmallFiles:
    """The small files of one folder, kept in memory (see the module doc)."""

    def __init__(self, max_file: int = MAX_FILE, max_bytes: int = MAX_BYTES) -> None:
        self.max_file = max_file
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[Path, _Entry] = OrderedDict()

    def response(self, request: web.Request, path: Path, headers: Mapping[str, str]) -> web.Response | None:
        """The answer for ``path`` (an existing file the caller has checked it may serve),
        or ``None`` when ``FileResponse`` must answer: not a plain GET or HEAD, a file too
        large or not regular, a precompressed sibling."""
        if request.method not in ("GET", "HEAD") or any(h in request.headers for h in _CONDITIONS):
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode) or st.st_size > self.max_file:
            return None
        entry = self._entries.get(path)
        if entry is None or entry.stamp != _stamp(st):
            entry = self._read(path, st)
            if entry is None:
                return None
        else:
            self._entries.move_to_end(path)
        if entry.body is None:
            return None
        reply = CachedFile(body=entry.body, content_type=entry.content_type, headers=headers)
        reply.etag = f"{entry.stamp[0]:x}-{entry.stamp[1]:x}"
        reply.last_modified = entry.mtime
        reply.headers[hdrs.ACCEPT_RANGES] = "bytes"
        return reply

    def _read(self, path: Path, st: os.stat_result) -> _Entry | None:
        """Read and keep ``path``; ``None`` if it changed while read or cannot be read."""
        self._forget(path)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if any(os.path.lexists(f"{path}{suffix}") for suffix in _COMPRESSED):
            body = None
        else:
            try:
                with open(path, "rb") as f:
                    body = f.read(self.max_file + 1)
                    if _stamp(os.fstat(f.fileno())) != _stamp(st) or len(body) != st.st_size:
                        return None
            except OSError:
                return None
        entry = self._entries[path] = _Entry(_stamp(st), body, content_type, st.st_mtime)
        self.size += len(body or b"")
        while self.size > self.max_bytes:
            self._forget(next(iter(self._entries)))
        return entry

    def _forget(self, path: Path) -> None:
        gone = self._entries.pop(path, None)
        if gone is not None:
            self.size -= len(gone.body or b"")
