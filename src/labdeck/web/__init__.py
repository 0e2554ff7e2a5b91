"""The HTTP side of labdeck: routes, websocket endpoint, health and metrics.

Nothing is imported here, so that a capability importing :mod:`labdeck.web.openapi`
does not load the application module (:mod:`labdeck.web.app`) with it.
"""

from __future__ import annotations

__all__: list[str] = []
