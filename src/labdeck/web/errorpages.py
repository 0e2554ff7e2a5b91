"""Error pages: one clean page per status, in the dashboard's style, with an error id.

Every HTTP error a page route raises (``404`` for an address that names nothing, ``403``
for a role too low, ``413`` for a body over the limit, ...) becomes an HTML page saying
what happened in plain words, with an *error id* that the server log's line about it
also carries, so a person can quote it and the admin find the line. An exception no
handler expected is a ``500``: logged with its traceback at ERROR under its id (and so
in the daily error mail), its detail shown on the page only while the ``debug`` switch
is on. Routes under ``/api/`` keep their JSON error body, a ``500`` there too, with the
id in its message.
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
import traceback
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from labdeck.web.openapi import error_response

__all__ = ["EXPLAIN", "error_page", "middleware", "new_error_id"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

EXPLAIN: Final[Mapping[int, str]] = {
    400: "The request could not be understood: something in it is missing or malformed.",
    401: "You need to log in to see this page.",
    403: "You are not allowed to see this page. Ask your admin for a role that may.",
    404: "There is nothing at this address. Check it for typing mistakes, or start from the dashboard.",
    405: "This address does not take that kind of request.",
    413: "What was sent is larger than the server accepts.",
    414: "The address is too long.",
    429: "Too many requests came from you in a short time. Please wait a moment and try again.",
    500: "Something went wrong on the server. The admin can find out what from the error id below.",
    503: "The server is not available right now. Please try again later.",
}
_KEPT_HEADERS: Final = (hdrs.RETRY_AFTER, hdrs.ALLOW, hdrs.WWW_AUTHENTICATE)


def new_error_id() -> str:
    """A short random id that names one error on its page and in the log."""
    return secrets.token_hex(4)


def error_page(base: str, status: int, error_id: str, *, detail: str = "", debug_text: str = "",
               headers: Mapping[str, str] | None = None, message: str | None = None) -> web.Response:
    """The HTML page of one error.

    Args:
        base: the server's base path, for the stylesheet and the way back.
        status: the HTTP status.
        error_id: the id the log line about it has.
        detail: a further sentence for people (escaped).
        debug_text: a traceback, shown only when given (debug mode).
        headers: headers the response keeps (``Retry-After``, ``Allow``).
        message: replaces the standard sentence of the status (the maintenance notice).
    """
    phrase = _phrase(status)
    parts = [f'<p class="error-message" data-testid="error-message">{html.escape(message or _explain(status))}</p>']
    if detail:
        parts.append(f'<p class="error-detail" data-testid="error-detail">{html.escape(detail)}</p>')
    if debug_text:
        parts.append(f'<pre class="error-trace mono" data-testid="error-trace">{html.escape(debug_text)}</pre>')
    body = _PAGE.format(base=html.escape(base, quote=True), status=status, phrase=html.escape(phrase),
                        parts="\n  ".join(parts), error_id=html.escape(error_id))
    response = web.Response(status=status, text=body, content_type="text/html", charset="utf-8",
                            headers={hdrs.CACHE_CONTROL: "no-store"})
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _explain(status: int) -> str:
    return EXPLAIN.get(status) or (EXPLAIN[500] if status >= 500 else EXPLAIN[400])


def middleware(base: str, debug: Callable[[], bool]) -> Middleware:
    """The middleware that turns errors into pages (see the module docstring).

    Args:
        base: the base path; ``<base>/api/`` keeps JSON errors.
        debug: whether the ``debug`` switch is on now.
    """
    api = base + "/api/"

    @web.middleware
    async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400 or request.path.startswith(api):
                raise
            error_id = new_error_id()
            log.info("error %s: %d %s %s from %s", error_id, exc.status, request.method, request.raw_path[:300],
                     request.remote, extra={"error_id": error_id})
            kept = {str(name): exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
            return error_page(base, exc.status, error_id, detail=_own_text(exc), headers=kept)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error_id = new_error_id()
            log.error("error %s: %s %s failed", error_id, request.method, request.raw_path[:300], exc_info=True,
                      extra={"error_id": error_id})
            shown = f"{type(exc).__name__}: {exc}" if debug() else ""
            if request.path.startswith(api):
                more = f": {shown}" if shown else "; see the server log"
                return error_response(500, "InternalError", f"internal error {error_id}{more}")
            return error_page(base, 500, error_id, debug_text=traceback.format_exc() if debug() else "")

    return error_pages


def _own_text(exc: web.HTTPException) -> str:
    """The text a handler gave its error, unless it is aiohttp's default ``404: Not Found``."""
    text = (exc.text or "").strip()
    return "" if text == f"{exc.status}: {exc.reason}" else text[:500]


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{status} {phrase} · labdeck</title>
<link rel="stylesheet" href="{base}/static/style.css">
</head>
<body class="login-page error-page">
<main class="login-box error-box" data-testid="error-page" data-status="{status}">
  <h1 data-testid="brand">labdeck</h1>
  <p class="error-status" data-testid="error-status">{status} · {phrase}</p>
  {parts}
  <p class="muted error-id">Error id <code data-testid="error-id">{error_id}</code>: the server log names it too.</p>
  <p><a href="{base}/" data-testid="error-home">Back to the dashboard</a></p>
</main>
</body>
</html>
"""
