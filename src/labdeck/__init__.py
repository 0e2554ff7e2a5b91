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
    CallFailed,
    ConfigError,
    InvalidArguments,
    LabdeckError,
    NotFound,
    NotSerializable,
    Timeout,
)
from labdeck.objects import (
    Policy,
    TrackedDict,
    exclusive,
    exposed,
    hidden,
    inline,
    observable,
    observed,
)

__all__ = [
    "AccessDenied",
    "BadRequest",
    "Busy",
    "CallFailed",
    "Config",
    "ConfigError",
    "Deck",
    "InvalidArguments",
    "LabdeckError",
    "NotFound",
    "NotSerializable",
    "Policy",
    "Service",
    "Timeout",
    "TrackedDict",
    "__version__",
    "exclusive",
    "exposed",
    "hidden",
    "inline",
    "load_config",
    "observable",
    "observed",
]
