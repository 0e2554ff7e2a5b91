"""Request checks that hold in every mode, open included: the Host check against DNS
rebinding, the Origin check against cross-site forgery, and the security headers.

Each request, before any route sees it:

1. No ``Host`` header: ``400``.
2. A ``Host`` whose name the server does not answer to: ``421 Misdirected Request``. It
   answers to loopback names (``localhost``, ``*.localhost``, 127.0.0.0/8, ``[::1]``), the
   address it is bound to (and, bound to a wildcard address, the address the connection
   arrived on) and ``[server] hostnames``. A page on ``evil.example`` whose name was
   re-pointed at 127.0.0.1 sends ``Host: evil.example`` and is refused here.
3. A path segment longer than any file name (255 characters): ``414``.
4. A state-changing method (POST, PUT, PATCH, DELETE) must carry an ``Origin`` of this
   server (see :func:`same_server`), or ``Sec-Fetch-Site: same-origin`` when the browser
   sent no Origin, or ``Authorization: Bearer ...``, which a page on another site cannot
   send without a CORS preflight that labdeck never grants (the token itself is checked
   by the auth layer). Anything else: ``403`` with the REST error body, type
   ``AccessDenied``.

Every response then gets ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy:
same-origin``; HTML also gets a Content-Security-Policy that the dashboard's own files
satisfy (no inline script or style) and refuses framing by other sites.

The common request pays one set lookup (of its Host value, once found good), a length
check and a method check: no regular expression, no address parsing. Only a Host seen
for the first time is split and compared with the names.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import hdrs, web
from multidict import istr

from labdeck.config import ServerConfig
from labdeck.exceptions import AccessDenied
from labdeck.web.openapi import error_response

__all__ = ["CONTENT_SECURITY_POLICY", "Guard", "add_security_headers", "is_loopback_name", "same_server",
           "split_host"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATE_CHANGING: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_ANSWERED: Final = 64
"""How many distinct good Host values :class:`Guard` remembers."""
MAX_SEGMENT: Final = 255
"""The longest file name Linux file systems allow; a longer path segment names nothing."""
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)
_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "[::1]"})
_WILDCARDS: Final = frozenset({"", "0.0.0.0", "::", "[::]"})
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
_REFERRER_POLICY: Final = istr("Referrer-Policy")
_SEC_FETCH_SITE: Final = istr("Sec-Fetch-Site")


def split_host(host: str) -> tuple[str, str]:
    """``(name, port)`` of a Host header or an Origin's host part, the name lower-cased
    (an IPv6 address keeps its brackets) and the port ``""`` when absent."""
    host = host.lower()
    if host.startswith("["):
        end = host.find("]") + 1
        return host[:end], host[end + 1:] if host[end:end + 1] == ":" else ""
    name, sep, port = host.rpartition(":")
    return (name, port) if sep else (host, "")


def is_loopback_name(name: str) -> bool:
    """True for ``localhost``, ``*.localhost`` (RFC 6761: always loopback), an address in
    127.0.0.0/8 and ``[::1]``; ``name`` as :func:`split_host` returns it."""
    if name in _LOOPBACK_NAMES:
        return True
    name = name.removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    if not (name.startswith("127.") or name.startswith("[")):
        return False
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def same_server(origin: str, host: str, scheme: str) -> bool:
    """Whether a browser's ``Origin`` is a page of the server that ``host`` (the request's
    Host header) and ``scheme`` reach.

    The Origin's host and port must equal the Host header; its scheme may be http or
    https, because behind a proxy that ends TLS the server sees http while the page is
    https (a plain-http port has no https pages, so nothing is lost). Two loopback names
    of the same port (``localhost:8888`` and ``127.0.0.1:8888``) are the same server,
    but only when the Host itself is loopback: a rebound name never is.
    """
    origin_scheme, sep, netloc = origin.partition("://")
    origin_scheme = origin_scheme.lower()
    if not sep or origin_scheme not in _DEFAULT_PORTS:
        return False
    netloc = netloc.lower()
    if netloc == host.lower():
        return True
    origin_name, origin_port = split_host(netloc)
    host_name, host_port = split_host(host)
    origin_port = origin_port or _DEFAULT_PORTS[origin_scheme]
    host_port = host_port or _DEFAULT_PORTS.get(scheme, "")
    return origin_port == host_port and is_loopback_name(host_name) and is_loopback_name(origin_name)


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


class Guard:
    """The request checks of one server (see the module docstring for the rules).

    Install :attr:`middleware` on the outermost application, so that it runs before any
    route (and before the base path is matched), and :func:`add_security_headers` on its
    ``on_response_prepare`` signal.
    """

    def __init__(self, server: ServerConfig) -> None:
        bound = _bracketed(server.host.lower())
        self.wildcard = bound in _WILDCARDS
        self.names: frozenset[str] = _LOOPBACK_NAMES | ({bound, *server.hostnames} - _WILDCARDS)
        self.answered: set[str] = set()
        """Host header values already found good, as sent: the common request pays one
        set lookup. Bounded by :data:`MAX_ANSWERED`, so refused or varied names cannot grow it."""

    def host_allowed(self, name: str, request: web.Request) -> bool:
        """Whether the server answers to the Host name ``name`` (from :func:`split_host`)."""
        if name in self.names or is_loopback_name(name):
            return True
        if not self.wildcard or request.transport is None:
            return False
        local = request.transport.get_extra_info("sockname")
        return bool(local) and name == _bracketed(str(local[0]).lower())

    @staticmethod
    def may_change_state(request: web.Request, host: str) -> bool:
        """Whether a POST, PUT, PATCH or DELETE comes from this server's pages or carries a token."""
        headers = request.headers
        if headers.get(hdrs.AUTHORIZATION, "")[:7].lower() == "bearer ":
            return True
        origin = headers.get(hdrs.ORIGIN)
        if origin is None:
            return headers.get(_SEC_FETCH_SITE) == "same-origin"
        return same_server(origin, host, request.scheme)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get(hdrs.HOST)
        if not host:
            return web.Response(status=400, text="a request needs a Host header\n")
        if host not in self.answered:
            if not self.host_allowed(split_host(host)[0], request):
                log.info("request from %s refused: Host %r is not a name this server answers to", request.remote, host)
                return web.Response(status=421, text="this server does not answer to that Host name\n")
            if len(self.answered) < MAX_ANSWERED:
                self.answered.add(host)
        path = request.raw_path
        if len(path) > MAX_SEGMENT and max(map(len, path.split("/"))) > MAX_SEGMENT:
            return web.Response(status=414, text=f"a path segment is longer than {MAX_SEGMENT} characters\n")
        if request.method in STATE_CHANGING and not self.may_change_state(request, host):
            origin = request.headers.get(hdrs.ORIGIN)
            log.info("%s %s from %s refused: Origin %r", request.method, request.rel_url, request.remote, origin)
            why = "no Origin header" if origin is None else f"Origin {origin!r} is not this server"
            return error_response(403, AccessDenied.wire_type,
                                  f"{request.method} needs this server's own Origin or a token: {why}")
        return await handler(request)


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: the headers every response carries, and for HTML the
    Content-Security-Policy and the framing rule. A handler's own value wins."""
    headers = response.headers
    headers.setdefault(hdrs.X_CONTENT_TYPE_OPTIONS, "nosniff")
    headers.setdefault(_REFERRER_POLICY, "same-origin")
    # the header, not response.content_type, which parses it on every call
    if headers.get(hdrs.CONTENT_TYPE, "").startswith("text/html"):
        headers.setdefault(hdrs.CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)
        # frame-ancestors 'self' rules where CSP is understood; a browser too old for it
        # gets the stricter DENY.
        headers.setdefault(hdrs.X_FRAME_OPTIONS, "DENY")
