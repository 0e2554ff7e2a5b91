"""The client's address behind a reverse proxy: ``X-Forwarded-For`` from trusted peers only.

Without ``[server] trusted_proxies`` the header is ignored: the client is the peer of the
connection, whatever the request claims. With it, a request whose peer is one of the
trusted proxies (addresses or networks such as ``10.0.0.0/8``) has its client read from
``X-Forwarded-For``, right to left: the right-most hop that is not itself a trusted proxy
is the client (every hop to its left was written by that client and proves nothing). A
hop that is not an IP address ends the walk at the proxy that passed it on.

The address found replaces ``request.remote`` for everything after it: the rate limit,
the login throttle, the sessions' and the audit log's ``peer``, the log lines.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiohttp import hdrs, web

__all__ = ["Network", "client_address", "middleware", "networks"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAX_HOPS = 32
"""Hops of ``X-Forwarded-For`` looked at, right to left; no real chain of proxies is longer."""


def networks(entries: Iterable[str]) -> list[Network]:
    """The trusted proxies of ``[server] trusted_proxies`` as networks (an address is a /32 or /128).

    Raises:
        ValueError: an entry is neither an address nor a network.
    """
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries]


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def _hop(text: str) -> str | None:
    """The address of one ``X-Forwarded-For`` hop, normalised; ``None`` if it is none."""
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1:text.index("]")]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_address(peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address for a request from ``peer`` carrying the ``X-Forwarded-For``
    header values ``forwarded_for`` (in the order they came)."""
    if not _trusted(peer, trusted):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")][-_MAX_HOPS:]
    client = peer
    for text in reversed(hops):
        hop = _hop(text)
        if hop is None:
            break
        client = hop
        if not _trusted(hop, trusted):
            break
    return client


def middleware(trusted: Sequence[Network]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The outermost middleware: the request, as seen by every later layer, comes from its
    client (see the module doc)."""

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.remote or ""
        values = request.headers.getall(hdrs.X_FORWARDED_FOR, ())
        if values:
            client = client_address(peer, values, trusted)
            if client != peer:
                request = request.clone(remote=client)
        return await handler(request)

    return forwarded
