"""Maintenance mode: a file named ``maintenance`` in the data folder, or the admin's switch.

The file's text is the message people see. An optional first line ``until: <ISO time>``
(``until: 2026-12-03T14:00``, server time unless it names a zone) is the expected end:
the ``Retry-After`` of the 503 answers counts down to it. The admin switch writes the same
file, and switching off removes it, whoever made it: one source of truth that survives a
restart and that every worker process of the data folder sees.

The file is looked at no more than once per :data:`CHECK_EVERY` seconds, so a request
pays a clock read, not a ``stat``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["CHECK_EVERY", "DEFAULT_RETRY", "FILE_NAME", "Maintenance", "Notice", "parse_notice"]

log = logging.getLogger(__name__)

FILE_NAME: Final = "maintenance"
CHECK_EVERY: Final = 1.0
"""Seconds between two looks at the file."""
DEFAULT_RETRY: Final = 300
"""``Retry-After`` seconds when the file names no end (or an end already past)."""
MAX_BYTES: Final = 16 << 10
"""The longest message read from the file; the rest is ignored."""
DEFAULT_MESSAGE: Final = "The server is down for maintenance. Please try again later."


@dataclass(frozen=True)
class Notice:
    """The server is in maintenance: ``message`` for people, ``until`` (Unix time) the expected end."""

    message: str
    until: float | None = None

    def retry_after(self, now: float) -> int:
        """Seconds for ``Retry-After``: until the expected end, at least 1."""
        if self.until is None or self.until <= now:
            return DEFAULT_RETRY
        return max(1, math.ceil(self.until - now))

    def as_json(self) -> dict[str, object]:
        return {"message": self.message, "until": self.until}


def parse_notice(text: str) -> Notice:
    """The notice a maintenance file's text gives; an unreadable ``until:`` line stays message."""
    first, _, rest = text.partition("\n")
    until = None
    if first.lower().startswith("until:"):
        try:
            when = dt.datetime.fromisoformat(first[6:].strip())
        except ValueError:
            log.warning("maintenance file: %r is not an ISO time; the line is shown as message", first[6:].strip())
        else:
            until = when.timestamp()  # a naive time is the server's local time
            text = rest
    return Notice(text.strip() or DEFAULT_MESSAGE, until)


class Maintenance:
    """The maintenance state of one data folder.

    Args:
        data_dir: the server's data folder.
        clock: monotonic seconds, for the look-up interval; tests pass their own.
    """

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = data_dir / FILE_NAME
        self.clock = clock
        self._notice: Notice | None = None
        self._checked = -math.inf

    def current(self) -> Notice | None:
        """The notice in force, ``None`` when serving normally."""
        now = self.clock()
        if now - self._checked >= CHECK_EVERY:
            self._checked = now
            self._notice = self._read()
        return self._notice

    def _read(self) -> Notice | None:
        try:
            with self.path.open("rb") as file:
                raw = file.read(MAX_BYTES)
        except FileNotFoundError:
            return None
        except OSError as exc:  # a folder of that name, no permission: in maintenance, say why
            log.warning("maintenance file %s cannot be read: %s", self.path, exc)
            return Notice(DEFAULT_MESSAGE)
        return parse_notice(raw.decode("utf-8", errors="replace"))

    def switch_on(self, message: str, until: float | None) -> Notice:
        """Write the file (atomically) and take effect at once."""
        text = message.strip() or DEFAULT_MESSAGE
        if until is not None:
            stamp = dt.datetime.fromtimestamp(until).astimezone().isoformat(timespec="seconds")
            text = f"until: {stamp}\n{text}"
        partial = self.path.with_name(f".{FILE_NAME}.{os.getpid()}")
        partial.write_text(text + "\n", encoding="utf-8")
        os.replace(partial, self.path)
        self._checked = -math.inf
        notice = self.current()
        assert notice is not None
        return notice

    def switch_off(self) -> bool:
        """Remove the file; whether there was one. Takes effect at once."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            existed = False
        else:
            existed = True
        self._checked = -math.inf
        return existed
