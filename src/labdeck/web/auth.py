"""Who each request acts for, and the pages that log a person in and out.

Every request gets a :class:`~labdeck.types.Client` before any handler runs:

* ``Authorization: Bearer TOKEN`` — the API token's role (agents, scripts, Prometheus);
  a token that is unknown, expired or revoked is a 401, never a fall-back to less;
* else a valid session cookie — the logged-in user's role;
* else, in ``[auth] mode = "open"`` (loopback only), the single local user, as admin;
* else, in ``login`` mode, an anonymous client that may reach only the login page, the
  health check, ``robots.txt`` and static files: a browser asking for a page is sent to
  ``/login?next=...``, anything else gets a 401 with the JSON error body.

The session cookie is ``labdeck_session``: HttpOnly, SameSite=Lax, Secure under TLS,
scoped to the base path, holding the HMAC-signed session id (the store keeps only its
digest). Login always makes a new session id (no fixation). The login form carries a
``csrf`` field bound to a cookie of its own, and like every state-changing request it must
come from the server's own Origin (checked before this layer).
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from aiohttp import web

from labdeck.admin.audit import Audit
from labdeck.auth.revocation import Notice
from labdeck.auth.sessions import CookieSigner, Sessions, load_secret
from labdeck.auth.shared_throttle import SharedThrottle
from labdeck.auth.throttle import LoginThrottle, Verdict
from labdeck.auth.tokens import Tokens
from labdeck.auth.users import Users
from labdeck.exceptions import InvalidArguments, Unauthenticated
from labdeck.types import Client
from labdeck.web import access
from labdeck.web.openapi import error_response

if TYPE_CHECKING:
    from labdeck.config import Config
    from labdeck.hub.connection import Connection
    from labdeck.store import Store

__all__ = [
    "AUDIT_KEY",
    "CLIENT_KEY",
    "CSRF_COOKIE",
    "GATE_KEY",
    "SESSION_COOKIE",
    "Gate",
    "add_auth_routes",
    "client_of",
    "end_session",
    "list_sessions",
    "login",
    "login_page",
    "logout",
    "middleware",
    "whoami",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "labdeck_session"
CSRF_COOKIE = "labdeck_csrf"
PUBLIC = ("/login", "/healthz", "/robots.txt")
"""Paths (under the base path) an anonymous client may reach, beside ``/static/``."""
SWEEP_EVERY = 60.0
"""Seconds between two sweeps: websockets of ended sessions are closed, sessions with an
open websocket count as active, expired sessions and stale throttle counts are removed."""
SESSION_ENDED_CLOSE_CODE = 1008
ROLE_CHANGED_CLOSE_CODE = 1012
"""Websockets of a user whose role changed close with this ("service restart"): the
dashboard reconnects at once and gets the new role."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CLIENT_KEY = web.RequestKey("labdeck.client", Client)
"""Where the request's :class:`Client` is kept once known (``request[CLIENT_KEY]``)."""


def client_of(request: web.Request) -> Client:
    """Who sent ``request``, as the identity middleware found; nobody (no role) for a request
    it never saw, so a route added outside it can never grant by default."""
    client: Client | None = request.get(CLIENT_KEY)
    if client is None:
        client = request[CLIENT_KEY] = Client(role="", peer=request.remote or "", via="anonymous")
    return client


class Gate:
    """The identity side of one server: users, tokens, sessions, the login throttle.

    Args:
        config: the server's configuration (``[auth]``, ``[tls]``, the base path).
        store: the open store.
    """

    def __init__(self, config: Config, store: Store, shared: SharedThrottle | None = None) -> None:
        auth = config.auth
        self.mode = auth.mode
        self.users = Users(store)
        self.tokens = Tokens(store)
        self.sessions = Sessions(store, lifetime=auth.session_lifetime, idle_timeout=auth.idle_timeout)
        self.signer = CookieSigner(load_secret(config.data_dir))
        self.throttle = shared.local if shared is not None else LoginThrottle.from_config(auth)
        self.shared_throttle = shared
        """The counts shared with the deployment's other processes (Redis), if any."""
        self.secure = config.tls.enabled
        self.base = config.server.base_path
        self.max_age = int(auth.session_lifetime)
        self._closing: set[asyncio.Task[None]] = set()
        self.pages: list[str] = []
        """Routes of the lab's own pages (``[pages]``): a browser is sent to log in for them."""
        self.public_pages: list[str] = []
        """Routes of the pages anyone may see (``role = "public"``)."""
        self.connections: Callable[[], Iterable[Connection]] = tuple
        """The server's websocket connections, for :meth:`revalidate` (set by the deck)."""
        self.announce: Callable[[Notice], Awaitable[None]] | None = None
        """Tells the deployment's other processes of a revocation (set by the deck when shared)."""

    async def throttle_check(self, user: str, peer: str, now: float) -> Verdict:
        """Whether a login may be tried now, counting every process of the deployment."""
        if self.shared_throttle is not None:
            return await self.shared_throttle.check(user, peer, now)
        return self.throttle.check(user, peer, now)

    async def throttle_failed(self, user: str, peer: str, now: float) -> None:
        if self.shared_throttle is not None:
            await self.shared_throttle.failed(user, peer, now)
        else:
            self.throttle.failed(user, peer, now)

    async def throttle_succeeded(self, user: str, peer: str, now: float) -> None:
        if self.shared_throttle is not None:
            await self.shared_throttle.succeeded(user, peer, now)
        else:
            self.throttle.succeeded(user, peer, now)

    async def start(self) -> None:
        """Warn when login mode has nobody who could log in."""
        if self.mode == "login" and not await self.users.list() and not await self.tokens.list():
            log.warning("[auth] mode = \"login\" but there are no users yet: add one with "
                        "`labdeck user add NAME --role admin`")

    async def stop(self) -> None:
        """Nothing to release: the periodic sweep is the admin's ``sessions`` job."""

    async def sweep(self) -> str:
        """The periodic sweep (every :data:`SWEEP_EVERY` seconds); says what it did."""
        closed = await self.revalidate() + await self.revalidate_tokens()
        ended = await self.sessions.cleanup()
        self.throttle.prune(time.time())
        if ended:
            log.info("%d expired sessions removed", ended)
        return f"{ended} expired sessions removed, {closed} websockets of ended sessions closed"

    async def revalidate(self) -> int:
        """Close the websockets whose login session has ended (1008), or whose user's role
        is no longer the one they were opened with (1012, to reconnect with it); how many.

        A session with an open websocket counts as active (a dashboard left open on scan
        day is in use even when it makes no HTTP request), so this also touches it.
        """
        closed = 0
        for conn in list(self.connections()):
            session = conn.client.session
            if session is None:
                continue
            found = await self.sessions.lookup(session)
            if found is None:
                self._close_soon(conn, SESSION_ENDED_CLOSE_CODE, "the login session ended")
            elif found.role != conn.client.role:
                self._close_soon(conn, ROLE_CHANGED_CLOSE_CODE, "your role changed: connect again")
            else:
                continue
            closed += 1
        return closed

    async def revalidate_tokens(self) -> int:
        """Close the websockets opened with a token that is revoked or expired now; how many."""
        conns = [conn for conn in self.connections() if conn.client.via == "token" and conn.client.user]
        good = await self.tokens.active(conn.client.user or "" for conn in conns)
        gone = [conn for conn in conns if conn.client.user not in good]
        for conn in gone:
            self._close_soon(conn, SESSION_ENDED_CLOSE_CODE, "the API token was revoked")
        return len(gone)

    async def revoked(self, notice: Notice) -> int:
        """Another process ended a session or revoked a token: close what no longer holds here."""
        return await (self.revalidate() if notice.kind == "session" else self.revalidate_tokens())

    async def tell_others(self, notice: Notice) -> None:
        """Announce a revocation to the deployment's other processes; never fails the caller
        (Redis away: they close at their next sweep)."""
        if self.announce is None:
            return
        try:
            await self.announce(notice)
        except Exception as exc:
            log.warning("could not tell the other server processes of %r: %s", notice, exc)

    def close_user(self, user: str, code: int, reason: str) -> int:
        """Close the websockets ``user`` opened through a login session; returns how many."""
        found = [conn for conn in self.connections() if conn.client.via == "session" and conn.client.user == user]
        for conn in found:
            self._close_soon(conn, code, reason)
        return len(found)

    def _close_soon(self, conn: Connection, code: int, reason: str) -> None:
        # Not awaited: the close handshake needs the client to read, and the client
        # may be waiting for the very request (a logout) that got here.
        task = asyncio.get_running_loop().create_task(conn.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # -- who is asking ----------------------------------------------------------------

    async def identify(self, request: web.Request) -> Client:
        """The client ``request`` acts for (``via="anonymous"``, no role, when nobody).

        Raises:
            Unauthenticated: an ``Authorization`` header that is not a valid API token.
        """
        peer = request.remote or ""
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("the Authorization header must be `Bearer TOKEN`")
            found = await self.tokens.verify(token.strip())
            if found is None:
                raise Unauthenticated("the API token is unknown, expired or revoked")
            return Client(role=found.role, user=found.user, peer=peer, via="token")
        session_id = self.session_id(request)
        if session_id is not None:
            found = await self.sessions.lookup(session_id)
            if found is not None:
                return Client(role=found.role, user=found.user, peer=peer, via="session", session=session_id)
        if self.mode == "open":
            return Client(role="admin", user=None, peer=peer, via="open")
        return Client(role="", user=None, peer=peer, via="anonymous")

    def session_id(self, request: web.Request) -> str | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        return self.signer.unsign(cookie) if cookie else None

    def is_public(self, request: web.Request) -> bool:
        path = request.path.removeprefix(self.base) or "/"
        return path in PUBLIC or path.startswith("/static/") or _below(path, self.public_pages)

    def refuse(self, request: web.Request, exc: Unauthenticated) -> web.StreamResponse:
        """Send a browser's page request to the login form; anything else gets a 401."""
        wants_page = request.method == "GET" and "text/html" in request.headers.get("Accept", "")
        path = request.path.removeprefix(self.base)
        if wants_page and (path in ("", "/", "/admin") or _below(path, self.pages)):
            raise web.HTTPSeeOther(self.login_url(request.path_qs))
        reply = error_response(401, exc.wire_type, exc.message)
        reply.headers["WWW-Authenticate"] = 'Bearer realm="labdeck"'
        return reply

    def login_url(self, next_path: str) -> str:
        from urllib.parse import quote

        return f"{self.base}/login?next={quote(next_path, safe='/')}"

    # -- cookies ------------------------------------------------------------------------

    def set_cookie(self, response: web.StreamResponse, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, path=self.base or "/", httponly=True,
                            secure=self.secure, samesite="Lax")

    def csrf_field(self, request: web.Request, response: web.StreamResponse) -> str:
        """The login form's hidden ``csrf`` value, bound to a cookie set on ``response``."""
        nonce = request.cookies.get(CSRF_COOKIE)
        if not nonce or len(nonce) > 64:
            nonce = secrets.token_urlsafe(24)
            self.set_cookie(response, CSRF_COOKIE, nonce, None)
        return self.signer.sign("csrf:" + nonce)

    def csrf_ok(self, request: web.Request, field: str) -> bool:
        nonce = request.cookies.get(CSRF_COOKIE)
        return nonce is not None and self.signer.unsign(field) == "csrf:" + nonce


def _below(path: str, routes: list[str]) -> bool:
    """Whether ``path`` is one of ``routes`` or below one."""
    return any(path == route or path.startswith(route + "/") for route in routes)


_NOBODY = "log in, or send an API token as `Authorization: Bearer TOKEN`"
GATE_KEY: web.AppKey[Gate] = web.AppKey("labdeck.gate", Gate)
AUDIT_KEY: web.AppKey[Audit] = web.AppKey("labdeck.audit", Audit)


def middleware(gate: Gate) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware that identifies every request (see the module docstring)."""

    @web.middleware
    async def identify(request: web.Request, handler: Handler) -> web.StreamResponse:
        if gate.is_public(request):
            # Anyone may have these (static files, the login page, /healthz): no store lookup.
            request[CLIENT_KEY] = Client(role="", peer=request.remote or "", via="anonymous")
        else:
            try:
                client = await gate.identify(request)
            except Unauthenticated as exc:
                return gate.refuse(request, exc)
            if client.via == "anonymous":
                return gate.refuse(request, Unauthenticated(_NOBODY))
            request[CLIENT_KEY] = client
        response = await handler(request)
        if gate.secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    return identify


def add_auth_routes(app: web.Application, gate: Gate, audit: Audit | None = None) -> None:
    """``GET``/``POST /login``, ``POST /logout``, ``GET /api/session`` and the admin's
    ``/api/sessions``; ``audit`` records the sessions an admin ends."""
    app[GATE_KEY] = gate
    if audit is not None:
        app[AUDIT_KEY] = audit
    access.add(app, "GET", "/login", login_page, access.PUBLIC)
    access.add(app, "POST", "/login", login, access.PUBLIC)
    access.add(app, "POST", "/logout", logout, access.PUBLIC)
    access.add(app, "GET", "/api/session", whoami, "viewer")
    access.add(app, "GET", "/api/sessions", _admin(list_sessions), "admin")
    access.add(app, "DELETE", "/api/sessions/{handle:\\d{1,18}}", _admin(end_session), "admin")


def _safe_next(gate: Gate, target: str | None) -> str:
    """Where to go after login: a path of this server, never another site."""
    home = f"{gate.base}/"
    if target is None or not target.startswith(home) or target.startswith("//"):
        return home
    return target if "\\" not in target and target.isprintable() else home


async def login_page(request: web.Request) -> web.StreamResponse:
    return _login_form(request, request.app[GATE_KEY], request.query.get("next"))


def _login_form(request: web.Request, gate: Gate, target: str | None, *, user: str = "", message: str = "",
                status: int = 200) -> web.Response:
    response = web.Response(status=status, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store"})
    csrf = gate.csrf_field(request, response)
    notice = f'<p class="login-error" role="alert" data-testid="login-error">{html.escape(message)}</p>'
    response.text = _LOGIN_HTML.format(
        base=html.escape(gate.base, quote=True), csrf=html.escape(csrf, quote=True),
        next=html.escape(_safe_next(gate, target), quote=True), user=html.escape(user, quote=True),
        message=notice if message else "")
    return response


async def login(request: web.Request) -> web.StreamResponse:
    gate = request.app[GATE_KEY]
    form = await request.post()
    user, password = str(form.get("username", "")).strip()[:200], str(form.get("password", ""))
    target = str(form.get("next", ""))

    def again(message: str, status: int) -> web.Response:
        return _login_form(request, gate, target, user=user[:64], message=message, status=status)

    if not gate.csrf_ok(request, str(form.get("csrf", ""))):
        return again("The form had expired. Please try again.", 403)
    peer, now = request.remote or "", time.time()
    verdict = await gate.throttle_check(user, peer, now)
    if not verdict.allowed:
        reply = again(f"Too many failed logins. Try again in {verdict.wait:.0f} s.", 429)
        reply.headers["Retry-After"] = str(max(1, round(verdict.wait)))
        return reply
    try:
        found = await gate.users.authenticate(user, password) if user and password else None
    except InvalidArguments:  # a name that cannot be a user's
        found = None
    if found is None:
        await gate.throttle_failed(user, peer, now)
        log.warning("failed login for %r from %s", user[:64], peer)
        return again("Wrong user name or password.", 401)
    await gate.throttle_succeeded(user, peer, now)
    session_id = await gate.sessions.create(found, peer=peer, user_agent=request.headers.get("User-Agent", "")[:200],
                                            replaces=gate.session_id(request))
    response = _see_other(_safe_next(gate, target))
    gate.set_cookie(response, SESSION_COOKIE, gate.signer.sign(session_id), gate.max_age)
    log.info("%s logged in from %s", found.user, peer)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    gate = request.app[GATE_KEY]
    session_id = gate.session_id(request)
    if session_id is not None:
        await gate.sessions.end(session_id)
        await gate.revalidate()
        await gate.tell_others(Notice("session"))
    response = _see_other(f"{gate.base}/login")
    response.del_cookie(SESSION_COOKIE, path=gate.base or "/")
    return response


def _admin(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if client_of(request).role != "admin":
            return error_response(403, "AccessDenied", f"{request.method} {request.path} needs the admin role")
        return await handler(request)

    return guarded


async def list_sessions(request: web.Request) -> web.StreamResponse:
    """Every login session: ``{"sessions": [{handle, user, created, last_seen, peer, user_agent}]}``."""
    sessions = await request.app[GATE_KEY].sessions.list()
    return web.json_response({"sessions": [vars(s) for s in sessions]}, headers={"Cache-Control": "no-store"})


async def end_session(request: web.Request) -> web.StreamResponse:
    """End one session (its websockets close with 1008); 404 for an unknown handle."""
    gate = request.app[GATE_KEY]
    handle = int(request.match_info["handle"])
    ended = next((s for s in await gate.sessions.list() if s.handle == handle), None)
    if ended is None:
        return error_response(404, "NotFound", f"no session {handle}")
    audit = request.app.get(AUDIT_KEY)
    if audit is not None:
        await audit.record(client_of(request), "session.end", handle=handle, user=ended.user, peer=ended.peer)
    await gate.sessions.end_handle(handle)
    closed = await gate.revalidate()
    await gate.tell_others(Notice("session"))
    return web.json_response({"ended": handle, "websockets_closed": closed})


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


async def whoami(request: web.Request) -> web.StreamResponse:
    """``{"user", "role", "via", "mode"}`` of the requesting client, for the dashboard's badge."""
    gate = request.app[GATE_KEY]
    client = client_of(request)
    return web.json_response({"user": client.user, "role": client.role, "via": client.via, "mode": gate.mode},
                             headers={"Cache-Control": "no-store"})


_LOGIN_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · labdeck</title>
<link rel="stylesheet" href="{base}/static/style.css">
<script type="module" src="{base}/static/login.js"></script>
</head>
<body class="login-page">
<main class="login-box">
  <h1 data-testid="brand">labdeck</h1>
  {message}
  <form method="post" action="{base}/login" data-testid="login-form">
    <input type="hidden" name="csrf" value="{csrf}">
    <input type="hidden" name="next" value="{next}">
    <label>User name <input name="username" autocomplete="username" required autofocus value="{user}"
      data-testid="login-user"></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required
      data-testid="login-password"></label>
    <button type="submit" data-testid="login-submit">Log in</button>
  </form>
</main>
</body>
</html>
"""
