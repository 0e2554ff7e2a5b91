"""The errors the server logs, kept for the admin's daily mail.

:class:`ErrorRecorder` is a logging handler on the ``labdeck`` logger: every record of
level ERROR or above is held in memory (bounded: a flood keeps the newest
:data:`HELD`, and says how many it dropped) until :meth:`ErrorRecorder.write` moves
them into the store's ``error_log`` (the statistics job does, every minute). It may be
called from any thread.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from typing import Final

__all__ = ["HELD", "ErrorRecorder", "errors_since"]

HELD: Final = 1000
MESSAGE_CHARS: Final = 4000


class ErrorRecorder(logging.Handler):
    """Holds ERROR records until :meth:`write` stores them."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.held: deque[tuple[float, str, str, str | None]] = deque(maxlen=HELD)
        self.dropped = 0
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f"\n{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        except Exception:  # a record whose arguments do not format is still an error
            text = str(record.msg)
        with self._guard:
            if len(self.held) == HELD:
                self.dropped += 1
            self.held.append((record.created, record.name, text[:MESSAGE_CHARS], getattr(record, "error_id", None)))

    def take(self) -> list[tuple[float, str, str, str | None]]:
        with self._guard:
            found = list(self.held)
            self.held.clear()
        return found

    @staticmethod
    def write(db: sqlite3.Connection, records: list[tuple[float, str, str, str | None]]) -> None:
        """Store ``records`` (from :meth:`take`); runs on the store's thread."""
        db.executemany("INSERT INTO error_log (t, logger, message, error_id) VALUES (?, ?, ?, ?)", records)


def errors_since(db: sqlite3.Connection, after_id: int, limit: int = 500) -> list[sqlite3.Row]:
    """Stored errors with an id above ``after_id``, oldest first."""
    return db.execute("SELECT id, t, logger, message, error_id FROM error_log WHERE id > ? ORDER BY id LIMIT ?",
                      (after_id, limit)).fetchall()
