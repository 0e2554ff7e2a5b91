"""Runtime switches: settings an admin changes on the running server, effective at once.

* ``log_level`` — the level of labdeck's loggers (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``);
* ``timing`` — one log line per request (method, path, status, bytes, milliseconds), on
  the logger ``labdeck.web.timing``;
* ``debug`` — error details in websocket replies and tracebacks on error pages
  (``[server] debug`` is its value at start).

They last until the server stops: the config file stays the lasting truth. Every change
is written to the audit log by the route that makes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from labdeck.exceptions import InvalidArguments

__all__ = ["LEVELS", "Switches"]

LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


class Switches:
    """The runtime switches of one server.

    Args:
        debug: ``[server] debug``.
        on_debug: called with the new value when ``debug`` changes (the hub's error detail).
        logger: the logger whose level ``log_level`` sets.
    """

    def __init__(self, debug: bool, on_debug: Callable[[bool], None] = lambda _: None,
                 logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("labdeck")
        self._level_at_start = self.logger.level
        self.debug = debug
        self.timing = False
        self._on_debug = on_debug

    @property
    def log_level(self) -> str:
        return logging.getLevelName(self.logger.getEffectiveLevel())

    def values(self) -> dict[str, Any]:
        return {"log_level": self.log_level, "timing": self.timing, "debug": self.debug}

    def reset_log_level(self) -> None:
        """Give the logger back the level it had before any change (at server stop)."""
        self.logger.setLevel(self._level_at_start)

    def change(self, name: str, value: Any) -> tuple[Any, Any]:
        """Set switch ``name`` to ``value``; returns ``(old, new)``.

        Raises:
            InvalidArguments: no such switch, or a value it cannot take.
        """
        old = self.values().get(name)
        if name == "log_level":
            if not isinstance(value, str) or value.upper() not in LEVELS:
                raise InvalidArguments(f"log_level must be one of {', '.join(LEVELS)}")
            self.logger.setLevel(value.upper())
        elif name in ("timing", "debug"):
            if not isinstance(value, bool):
                raise InvalidArguments(f"{name} is true or false")
            setattr(self, name, value)
            if name == "debug":
                self._on_debug(value)
        else:
            raise InvalidArguments(f"no switch {name!r}: there are log_level, timing and debug")
        return old, self.values()[name]
