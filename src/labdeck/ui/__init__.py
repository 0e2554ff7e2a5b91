"""The browser side: the dashboard and the JavaScript client, served as static files."""

from __future__ import annotations

__all__: list[str] = []
