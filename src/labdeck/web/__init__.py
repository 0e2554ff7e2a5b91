"""The HTTP side of labdeck: routes, websocket endpoint, health and metrics."""

from __future__ import annotations

from labdeck.web.app import make_app

__all__ = ["make_app"]
