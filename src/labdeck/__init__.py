"""labdeck: a web control room for lab experiments.

The public API is re-exported here; everything else is reached through its module.

The re-exports load on first use, so that ``from labdeck import script`` — what every
experiment script does first — does not import the web server along with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

try:
    from labdeck._version import __version__
except ImportError:  # a source tree that was never installed: no version file written yet
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
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
        reads,
    )

_EXPORTS: dict[str, str] = {
    "Config": "labdeck.config",
    "load_config": "labdeck.config",
    "Deck": "labdeck.deck",
    "Service": "labdeck.deck",
    **dict.fromkeys(
        ("AccessDenied", "BadRequest", "Busy", "CallFailed", "ConfigError", "InvalidArguments",
         "LabdeckError", "NotFound", "NotSerializable", "Timeout"),
        "labdeck.exceptions",
    ),
    **dict.fromkeys(
        ("Policy", "TrackedDict", "exclusive", "exposed", "hidden", "inline", "observable", "observed", "reads"),
        "labdeck.objects",
    ),
}

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
    "reads",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'labdeck' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
