"""Script configurations: the project's default (a TOML file) and named presets (the store).

A configuration is a JSON object: it is what ``labdeck.script.config()`` returns in
the script. Presets are saved whole under a name chosen in the dashboard.
"""

from __future__ import annotations

import json
import sqlite3
import time
import tomllib
from pathlib import Path
from typing import Any

from labdeck.exceptions import ConfigError, InvalidArguments, NotFound

__all__ = ["check_config", "check_preset_name", "delete_preset", "load_default", "load_presets", "save_preset"]

MAX_NAME = 100


def load_default(path: Path | None) -> dict[str, Any]:
    """The project's default configuration; ``{}`` when none is configured.

    Raises:
        ConfigError: the file is configured but missing or not valid TOML.
    """
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: default script configuration not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the default script configuration: {exc}") from None


def check_config(config: Any) -> dict[str, Any]:
    """``config`` if it is a JSON object whose values JSON can carry.

    Raises:
        InvalidArguments: it is not.
    """
    if not isinstance(config, dict):
        raise InvalidArguments(f"a script configuration is a JSON object, not {type(config).__name__}")
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArguments(f"the script configuration cannot be stored as JSON: {exc}") from None
    return config


def check_preset_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidArguments(f"a preset name is 1 to {MAX_NAME} printable characters")
    return name


def load_presets(db: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    return {name: json.loads(cfg) for name, cfg in db.execute("SELECT name, config FROM presets ORDER BY name")}


def save_preset(db: sqlite3.Connection, name: str, config: dict[str, Any]) -> None:
    db.execute("INSERT OR REPLACE INTO presets (name, config, updated) VALUES (?, ?, ?)",
               (name, json.dumps(config), time.time()))


def delete_preset(db: sqlite3.Connection, name: str) -> None:
    """Raises :class:`NotFound` if there is no such preset."""
    if db.execute("DELETE FROM presets WHERE name = ?", (name,)).rowcount == 0:
        raise NotFound(f"no preset named {name!r}")
