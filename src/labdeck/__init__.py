"""labdeck: a web control room for lab experiments.

The public API is re-exported here; everything else is reached through its module.
"""

from __future__ import annotations

__version__ = "0.1.0"

from labdeck.config import Config, load_config
from labdeck.deck import Deck, Service
from labdeck.exceptions import (
    AccessDenied,
    BadRequest,
    Busy,
    ConfigError,
    LabdeckError,
    NotFound,
    NotSerializable,
    Timeout,
)

__all__ = [
    "AccessDenied",
    "BadRequest",
    "Busy",
    "Config",
    "ConfigError",
    "Deck",
    "LabdeckError",
    "NotFound",
    "NotSerializable",
    "Service",
    "Timeout",
    "__version__",
    "load_config",
]
