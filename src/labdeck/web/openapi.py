"""The OpenAPI document served at ``/api/openapi.json``, and the REST error body.

Each module that adds REST routes also describes them with :func:`add_openapi_paths`;
the first call installs the route that serves the document, so the document always
lists exactly the routes the running server has. The document states every
parameter's constraints and every error: an operation names its errors with
:func:`error_responses`, which refer to the shared ``components.responses`` below.

Every REST error is ``{"error": {"type", "message"}}`` (:func:`error_response`), also
for an address under ``/api/`` that names no route (:func:`api_error_middleware`). The
Host check's ``421`` and ``414`` come before any route and are short plain text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from labdeck import __version__
from labdeck.exceptions import BadRequest
from labdeck.web import access

__all__ = ["OPENAPI_KEY", "add_openapi_paths", "api_error_middleware", "error_response", "error_responses", "query_int"]

OPENAPI_KEY: web.AppKey[dict[str, Any]] = web.AppKey("openapi")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_openapi_paths(app: web.Application, paths: dict[str, Any], schemas: dict[str, Any] | None = None) -> None:
    """Add ``paths`` (OpenAPI path items) and the ``schemas`` they refer to to ``app``'s document."""
    doc = app.get(OPENAPI_KEY)
    if doc is None:
        doc = {
            "openapi": "3.1.0",
            "info": {"title": "labdeck", "version": __version__},
            "paths": {},
            "components": {"schemas": {"Error": _ERROR_SCHEMA}, "responses": _RESPONSES},
        }
        app[OPENAPI_KEY] = doc
        access.add(app, "GET", "/api/openapi.json", _serve, "viewer")
    for path, item in paths.items():
        doc["paths"].setdefault(path, {}).update({method: _complete(op) for method, op in item.items()})
    doc["components"]["schemas"].update(schemas or {})


async def _serve(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[OPENAPI_KEY])


def error_response(status: int, type_: str, message: str) -> web.Response:
    """The JSON body every REST error has: ``{"error": {"type", "message"}}``."""
    return web.json_response({"error": {"type": type_, "message": message}}, status=status)


def _complete(op: dict[str, Any]) -> dict[str, Any]:
    """An operation with what every one has: a parameter list, and the errors any request
    can get (a role too low is a 403), beside the ones it states itself."""
    return {"parameters": [], **op, "responses": {**error_responses(403), **op.get("responses", {})}}


def error_responses(*statuses: int) -> dict[str, Any]:
    """OpenAPI ``responses`` entries for ``statuses`` and for the errors any request can get
    (``401`` in login mode, ``414`` and ``421`` from the Host check, ``503`` in maintenance mode)."""
    codes = sorted({*statuses, 401, 414, 421, 503})
    return {str(code): {"$ref": f"#/components/responses/{_ERRORS[code][0]}"} for code in codes}


def api_error_middleware(prefix: str) -> Middleware:
    """A middleware that gives an address under ``prefix`` (``"/api/"`` below the base path)
    which names no route, or a method it does not have, the REST error body instead of
    aiohttp's plain-text page."""

    @web.middleware
    async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400 or not request.path.startswith(prefix):
                raise
            type_ = _ERRORS.get(exc.status, ("", "BadRequest" if exc.status < 500 else "InternalError"))[1]
            response = error_response(exc.status, type_, exc.reason)
            if isinstance(exc, web.HTTPMethodNotAllowed):
                response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
            return response

    return api_errors


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["type", "message"],
        "properties": {"type": {"type": "string", "description": "the error's name, e.g. NotFound"},
                       "message": {"type": "string", "description": "what went wrong, for a person"}},
    }},
}

_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("BadRequest", "BadRequest", "a parameter or the body is missing, malformed or out of range"),
    401: ("Unauthenticated", "Unauthenticated", "login mode: no valid session cookie or API token"),
    403: ("AccessDenied", "AccessDenied",
          "not allowed: a POST, PUT, PATCH or DELETE without this server's Origin or a token, "
          "or an upload name no pattern allows"),
    404: ("NotFound", "NotFound", "no such run, upload folder or route"),
    405: ("MethodNotAllowed", "BadRequest", "the route has no such method"),
    409: ("Conflict", "Busy", "the live run (stop it first), or a file that is there and may not be overwritten"),
    413: ("TooLarge", "TooLarge", "the upload is over the folder's size limit"),
    414: ("UriTooLong", "", "a path segment longer than 255 characters (plain text)"),
    421: ("Misdirected", "", "the Host header names no name this server answers to (plain text)"),
    429: ("TooManyRequests", "TooManyRequests",
          "this address made more requests than [server] rate_limit allows; see Retry-After"),
    503: ("Maintenance", "Maintenance", "the server is in maintenance mode; see Retry-After"),
}

_JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_TEXT_ERROR = {"text/plain": {"schema": {"type": "string"}}}
_RESPONSES = {
    name: {"description": description, "content": _JSON_ERROR if type_ else _TEXT_ERROR}
    for name, type_, description in _ERRORS.values()
}


def query_int(request: web.Request, name: str, default: int | None, low: int = 0, high: int = 1 << 62) -> int:
    """Query parameter ``name`` as a whole number in ``low..high``; ``default`` when it is
    absent, and :class:`BadRequest` when it is absent and ``default`` is None, empty, not a
    number, or out of range."""
    text = request.query.get(name)
    if text is None:
        if default is None:
            raise BadRequest(f"query parameter {name} is required")
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"query parameter {name}={text!r} is not a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"query parameter {name}={value} is outside {low}..{high}")
    return value
