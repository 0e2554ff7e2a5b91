"""Persistence with versioned migrations: SQLite by default, PostgreSQL by ``[store] url``."""

from __future__ import annotations

from labdeck.store.db import Store, latest_schema, store_target

__all__ = ["Store", "latest_schema", "store_target"]
