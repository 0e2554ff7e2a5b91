"""Linux inotify on the event loop, through ``ctypes``: no third-party library.

The kernel's event records are parsed by :func:`parse_events`, a pure function of bytes;
:class:`Inotify` only owns the file descriptor and feeds what it reads to it. Events
are read with ``loop.add_reader``, so a file that finished writing is seen within the
loop turn it was closed in.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "IN_CLOSE_WRITE",
    "IN_CREATE",
    "IN_DELETE_SELF",
    "IN_IGNORED",
    "IN_ISDIR",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "IN_Q_OVERFLOW",
    "IN_UNMOUNT",
    "Inotify",
    "InotifyEvent",
    "available",
    "parse_events",
]

# Event bits, from <sys/inotify.h>.
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

FOLDER_MASK = (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF
               | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
"""What a watched folder reports: files finished (close-after-write, moved in), folders
created (to follow them), and the folder itself going away. Never a bare file create
as a landed file: only a folder's create is acted upon."""

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)


@dataclass(frozen=True, slots=True)
class InotifyEvent:
    """One kernel event: the watch it belongs to, its bits and the entry's name."""

    wd: int
    mask: int
    name: str


def parse_events(buf: bytes) -> list[InotifyEvent]:
    """The events in one ``read`` of an inotify descriptor.

    The kernel never splits a record across reads, so ``buf`` holds whole records;
    names are NUL-padded and decoded with ``surrogateescape`` like every ``os`` path.
    """
    events = []
    offset, end = 0, len(buf)
    while offset + _HEADER.size <= end:
        wd, mask, _cookie, length = _HEADER.unpack_from(buf, offset)
        offset += _HEADER.size
        raw = buf[offset:offset + length].split(b"\0", 1)[0]
        offset += length
        events.append(InotifyEvent(wd, mask, os.fsdecode(raw)))
    return events


def available() -> bool:
    """Whether this system has inotify (Linux)."""
    return sys.platform.startswith("linux") and _libc() is not None


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch, libc.inotify_rm_watch  # noqa: B018 - present?
    except (OSError, AttributeError):
        return None
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    return libc


class Inotify:
    """One inotify instance: add and remove watches, read events without blocking.

    Raises:
        OSError: the kernel refuses an instance (``EMFILE``: too many instances).
    """

    READ_SIZE = 1 << 18  # a quarter MB: some 10,000 events per read in a burst

    def __init__(self) -> None:
        libc = _libc()
        if libc is None:
            raise OSError(errno.ENOSYS, "inotify is not available on this system")
        self._libc = libc
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd: int = fd

    def add_watch(self, path: str, mask: int = FOLDER_MASK) -> int:
        """Watch folder ``path``; returns its watch descriptor.

        Raises:
            OSError: ``ENOENT`` gone, ``ENOTDIR`` not a folder (or a symlink: never
                followed), ``EACCES`` no permission, ``ENOSPC`` the user's watch limit.
        """
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return int(wd)

    def rm_watch(self, wd: int) -> None:
        """Stop watching ``wd``; a watch the kernel already dropped is ignored."""
        self._libc.inotify_rm_watch(self.fd, wd)

    def read(self) -> list[InotifyEvent]:
        """Every event queued now; empty when there is none."""
        try:
            return parse_events(os.read(self.fd, self.READ_SIZE))
        except BlockingIOError:
            return []

    def on_readable(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        """Call ``callback`` on ``loop`` whenever events wait."""
        loop.add_reader(self.fd, callback)

    def close(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Close the instance (and stop reading it on ``loop``); idempotent."""
        if self.fd < 0:
            return
        if loop is not None:
            loop.remove_reader(self.fd)
        os.close(self.fd)
        self.fd = -1

