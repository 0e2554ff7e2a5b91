"""Where a server's websocket is, from the address a user gives."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from labdeck.exceptions import ConfigError

__all__ = ["websocket_url"]

_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def websocket_url(server: str) -> str:
    """The ``/ws`` URL of a server given as ``http(s)://host:port[/base]`` or ``ws(s)://...``.

    ``https://lab.example:8443/deck`` becomes ``wss://lab.example:8443/deck/ws``; a URL
    already ending in ``/ws`` is kept (with its scheme made ``ws`` or ``wss``).

    Raises:
        ConfigError: not an http, https, ws or wss URL with a host.
    """
    parts = urlsplit(server)
    scheme = _SCHEMES.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ConfigError(f"{server!r}: expected a server URL, http://, https://, ws:// or wss:// and a host")
    path = parts.path if parts.path.endswith("/ws") else parts.path.rstrip("/") + "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))
