"""SQLite persistence with versioned migrations."""

from __future__ import annotations

from labdeck.store.db import Store, latest_schema

__all__ = ["Store", "latest_schema"]
