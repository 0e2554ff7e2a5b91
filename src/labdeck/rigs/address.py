"""Rig addresses: ``udp://host:port``, ``tcp://``, ``tls://`` and iblutil's ``ws://``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from labdeck.exceptions import ConfigError

__all__ = ["DEFAULT_PORT", "MODES", "Mode", "RigAddress", "parse_uri"]

DEFAULT_PORT = 11001
"""The port iblutil listens on, and labdeck's too."""

Mode = Literal["labdeck", "iblutil"]
MODES: tuple[Mode, ...] = ("labdeck", "iblutil")
_SCHEMES = {"labdeck": ("udp", "tcp", "tls"), "iblutil": ("udp", "ws", "tcp")}


@dataclass(frozen=True)
class RigAddress:
    """Where a rig listens. ``stream`` is true for TCP (and TLS, and iblutil's ws)."""

    scheme: str
    host: str
    port: int

    @property
    def stream(self) -> bool:
        return self.scheme != "udp"

    @property
    def tls(self) -> bool:
        return self.scheme == "tls"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_uri(uri: str, mode: Mode = "labdeck") -> RigAddress:
    """Parse a rig URI; a bare ``host`` or ``host:port`` is UDP, the port defaults to 11001.

    Raises:
        ConfigError: an unknown scheme for ``mode`` (TLS is labdeck mode's only, ws
            iblutil mode's), no host, or a bad port.
    """
    if mode not in MODES:
        raise ConfigError(f"rig mode {mode!r}: expected one of {', '.join(MODES)}")
    text = uri if "://" in uri else f"udp://{uri}"
    parts = urlsplit(text)
    if parts.scheme not in _SCHEMES[mode]:
        raise ConfigError(f"rig URI {uri!r}: {mode} mode speaks {', '.join(s + '://' for s in _SCHEMES[mode])}")
    try:
        port = DEFAULT_PORT if parts.port is None else parts.port
    except ValueError:
        raise ConfigError(f"rig URI {uri!r}: not a port number (1-65535)") from None
    if not parts.hostname:
        raise ConfigError(f"rig URI {uri!r}: no host")
    return RigAddress(parts.scheme, parts.hostname, port)
