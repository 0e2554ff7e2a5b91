"""Page classes of a site: ``classes = { "" = "module:Class", "report" = "module:Report" }``.

Each key is a page of the site (``""`` the route itself, else one plain name below it) and
each value a subclass of :class:`labdeck.compat.awe.HtmlBase`, imported when the server
starts (the module must be importable: installed, or on ``PYTHONPATH``). ``GET`` and
``POST`` reach it, after the site's role and the server's Host and Origin checks; the class
runs on a worker thread, one instance per request (see :mod:`labdeck.compat.awepage` for
what the server does with its arguments, cookie, session data and response).

What a page may not do: set a header that is the server's (:data:`SERVER_HEADERS`: cookies
go through ``cookieFromArgs``, the content type through ``getContentType``, and the
Content-Security-Policy stays the server's), answer with a status outside 200 to 599, or
leak a traceback: an exception is logged with an id and the visitor gets a plain 500.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from labdeck.compat.awepage import HtmlBase, remembered
from labdeck.exceptions import ConfigError
from labdeck.objects.expose import import_reference
from labdeck.types import Client

__all__ = ["MAX_SESSIONS", "SERVER_HEADERS", "PageClasses", "PageRequest", "load_classes"]

log = logging.getLogger(__name__)

SERVER_HEADERS = frozenset({"set-cookie", "content-type", "content-length", "transfer-encoding", "connection",
                            "content-security-policy", "x-content-type-options", "referrer-policy"})
MAX_SESSIONS = 10_000
"""Visitors' session data kept per page class at most; past it the longest idle one is cleaned up."""
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")


def load_classes(classes: Mapping[str, str], where: str) -> dict[str, type[HtmlBase]]:
    """Import every ``{page: "module:Class"}`` of a site.

    Raises:
        ConfigError: a reference does not import or is not an ``HtmlBase`` subclass.
    """
    found: dict[str, type[HtmlBase]] = {}
    for page, ref in classes.items():
        key = f"{where}.classes.{page or '(the route)'}"
        cls = import_reference(ref, key)
        if not (isinstance(cls, type) and issubclass(cls, HtmlBase)):
            raise ConfigError(f"{key}: {ref!r} is not a subclass of labdeck.compat.awe.HtmlBase")
        found[page] = cls
    return found


@dataclass
class _Session:
    data: dict[str, Any] = field(default_factory=dict)
    seen: float = field(default_factory=time.monotonic)


@dataclass
class PageRequest:
    """The ``parent`` a page instance gets: who asks, for which path, and their session data."""

    request: web.Request
    client: Client
    global_data: dict[str, Any]

    @property
    def user(self) -> str | None:
        return self.client.user

    @property
    def role(self) -> str:
        return self.client.role

    @property
    def path(self) -> str:
        return self.request.path


class PageClasses:
    """The page classes of one site, their visitors' session data and the responses they make."""

    def __init__(self, classes: dict[str, type[HtmlBase]], route: str, secure: bool) -> None:
        self.classes = classes
        self.route = route
        self.secure = secure
        self.sessions: dict[type[HtmlBase], dict[str, _Session]] = {cls: {} for cls in classes.values()}

    def find(self, tail: str) -> type[HtmlBase] | None:
        return self.classes.get(tail.rstrip("/")) if tail.count("/") <= 1 else None

    async def serve(self, request: web.Request, cls: type[HtmlBase], client: Client) -> web.StreamResponse:
        """Run ``cls`` for ``request`` on a worker thread and make its response."""
        self.sweep()
        args = await _arguments(request)
        given = any(args.get(name) for name in cls.cookie_attrs)
        _fill_from_cookie(args, cls, request.cookies.get(cls.cookie_name))
        parent = PageRequest(request, client, self._session(cls, client).data)
        try:
            page, body, status, ctype, headers = await asyncio.to_thread(_run, cls, args, parent)
        except Exception:
            error = secrets.token_hex(4)
            log.exception("pages: the page class %s failed [error %s]", cls.__qualname__, error)
            return web.Response(status=500, text=f"the page could not be made (error {error})\n")
        response = web.Response(body=body if isinstance(body, bytes) else body.encode("utf-8"), status=status,
                                headers=headers, content_type=ctype,
                                charset="utf-8" if isinstance(body, str) else None)
        self._cookies(response, page, remember=given)
        return response

    def sweep(self) -> None:
        """Clean up every visitor's session data whose class's lifetime has run out."""
        now = time.monotonic()
        for cls, visitors in self.sessions.items():
            life = cls.SessionLifeTime
            stale = [k for k, s in visitors.items() if life is not None and now - s.seen > life]
            for key in stale:
                _cleanup(cls, visitors.pop(key))
            _call(cls.cleanupSessions, cls)

    def close(self) -> None:
        """The server stops: every visitor's session data is cleaned up."""
        for cls, visitors in self.sessions.items():
            while visitors:
                _cleanup(cls, visitors.popitem()[1])

    def _session(self, cls: type[HtmlBase], client: Client) -> _Session:
        visitors = self.sessions[cls]
        key = client.session or f"{client.via}:{client.user}:{client.peer}"
        found = visitors.get(key)
        if found is None:
            if len(visitors) >= MAX_SESSIONS:
                oldest = min(visitors, key=lambda k: visitors[k].seen)
                _cleanup(cls, visitors.pop(oldest))
            found = visitors[key] = _Session()
        found.seen = time.monotonic()
        return found

    def _cookies(self, response: web.Response, page: HtmlBase, remember: bool) -> None:
        """Send the page's cookies, and its preference cookie when the request gave preferences."""
        if remember:
            page.cookieFromArgs(page.cookie_name, page.cookie_lifetime, page.cookie_attrs)
        for cookie in page.cookies:
            for name, morsel in cookie.items():
                max_age = morsel["max-age"] or None
                response.set_cookie(name, morsel.value, max_age=max_age, path=self.route + "/", httponly=True,
                                    secure=self.secure, samesite="Lax")


async def _arguments(request: web.Request) -> dict[str, list[str]]:
    args: dict[str, list[str]] = {}
    for name, value in request.query.items():
        args.setdefault(name, []).append(value)
    if request.method == "POST":
        form = await request.post()
        for name, field_value in form.items():
            if isinstance(field_value, str):
                args.setdefault(name, []).append(field_value)
    return args


def _fill_from_cookie(args: dict[str, list[str]], cls: type[HtmlBase], cookie: str | None) -> None:
    if not cookie:
        return
    stored = remembered(cookie)
    for name in cls.cookie_attrs:
        if name not in args and name in stored:
            args[name] = stored[name][:1]


def _run(cls: type[HtmlBase], args: dict[str, list[str]],
         parent: PageRequest) -> tuple[HtmlBase, str | bytes, int, str, dict[str, str]]:
    module = sys.modules.get(cls.__module__)
    page = cls(args, getattr(module, "__file__", "") or "", parent)
    body = page.getHtml()
    status = page.getResponseCode()
    if not isinstance(status, int) or not 200 <= status <= 599:
        raise ValueError(f"getResponseCode() returned {status!r}, not a status from 200 to 599")
    if not isinstance(body, (str, bytes)):
        raise TypeError(f"getHtml() returned {type(body).__name__}, not str or bytes")
    return page, body, status, page.getContentType(), _headers(page.getExtraHeaders())


def _headers(extra: Mapping[str, str]) -> dict[str, str]:
    headers = {}
    for name, value in extra.items():
        if not _HEADER_NAME.fullmatch(name) or name.lower() in SERVER_HEADERS:
            raise ValueError(f"getExtraHeaders(): {name!r} is not a header a page may set")
        text = str(value)
        if "\r" in text or "\n" in text:
            raise ValueError(f"getExtraHeaders(): the value of {name!r} holds a line break")
        headers[name] = text
    return headers


def _cleanup(cls: type[HtmlBase], session: _Session) -> None:
    _call(cls.cleanupUserSession, cls, session.data)


def _call(hook: Any, cls: type[HtmlBase], *args: Any) -> None:
    try:
        hook(*args)
    except Exception:
        log.exception("pages: %s.%s failed", cls.__qualname__, hook.__name__)
