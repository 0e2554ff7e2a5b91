"""Wire protocols and state machines, free of I/O: no event loop, socket or web framework."""

from __future__ import annotations

__all__: list[str] = []
