"""What the operating system says about a process group: who is in it, and is it still ours.

A run's process is the leader of a process group of its own (its pid is the group id).
The runner records the leader's :func:`start_mark` when the run starts, so that a later
server can tell the run's group from an unrelated group that got the same number after
the run's processes were all gone and the number was handed out again.

Linux only: the facts come from ``/proc``. Elsewhere :func:`start_mark` is ``None`` and
:func:`live_members` finds nothing, so a group that outlived a crashed server cannot be
verified there and is never signalled on a guess.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcStat", "live_members", "read_stat", "start_mark"]

PROC = Path("/proc")
_BOOT_ID = PROC / "sys" / "kernel" / "random" / "boot_id"
_GONE = frozenset("ZXx")
"""Process states of a process that no longer runs: zombie, dead."""


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` this module needs."""

    pid: int
    state: str
    pgrp: int
    session: int
    start: int
    """Clock ticks after boot at which the process started; fixed for its whole life."""

    @property
    def running(self) -> bool:
        """Alive in any sense that matters: not a zombie waiting to be reaped."""
        return self.state not in _GONE


def read_stat(pid: int) -> ProcStat | None:
    """The process's stat line parsed; ``None`` if there is no such process (or no ``/proc``)."""
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name sits in parentheses and may itself hold spaces and parentheses:
    # every field after it is counted from the last ")" (proc(5)).
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        return ProcStat(pid, fields[0].decode(), int(fields[2]), int(fields[3]), int(fields[19]))
    except (IndexError, ValueError):
        return None


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def start_mark(pid: int) -> str | None:
    """``"<boot id>:<start ticks>"`` of a process: no other process, before or after, has it.

    ``None`` when it cannot be read (not Linux, or the process is gone already).
    """
    stat = read_stat(pid)
    if stat is None:
        return None
    return f"{_boot_id()}:{stat.start}"


def _parse_mark(mark: str) -> tuple[str, int] | None:
    boot, _, ticks = mark.rpartition(":")
    try:
        return boot, int(ticks)
    except ValueError:
        return None


def live_members(pgid: int, mark: str | None) -> list[int]:
    """The running processes of the group that the process with ``mark`` led; its pids.

    Empty when the group is gone, when ``mark`` is unknown, or when the number now belongs
    to another group: its leader was started at another time, or the machine has booted
    since. A member of the run's group shares the leader's session (the runner starts a
    session of its own) and started no earlier than the leader did.
    """
    parsed = None if mark is None else _parse_mark(mark)
    if parsed is None or parsed[0] != _boot_id():
        return []
    ticks = parsed[1]
    leader = read_stat(pgid)
    if leader is not None and leader.start != ticks:
        return []  # the number was handed out again: another process leads this group
    return [s.pid for s in _group(pgid) if s.running and s.session == pgid and s.start >= ticks]


def _group(pgid: int) -> list[ProcStat]:
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(PROC):
            if entry.name.isdigit():
                stat = read_stat(int(entry.name))
                if stat is not None and stat.pgrp == pgid:
                    found.append(stat)
    return found
