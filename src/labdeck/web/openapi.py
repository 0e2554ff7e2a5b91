"""The OpenAPI document served at ``/api/openapi.json``.

Each module that adds REST routes also describes them with :func:`add_openapi_paths`;
the first call installs the route that serves the document, so the document always
lists exactly the routes the running server has.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from labdeck import __version__
from labdeck.web import access

__all__ = ["OPENAPI_KEY", "add_openapi_paths", "error_response"]

OPENAPI_KEY: web.AppKey[dict[str, Any]] = web.AppKey("openapi")


def add_openapi_paths(app: web.Application, paths: dict[str, Any]) -> None:
    """Add ``paths`` (OpenAPI path items) to ``app``'s document; methods of a path merge."""
    doc = app.get(OPENAPI_KEY)
    if doc is None:
        doc = {
            "openapi": "3.1.0",
            "info": {"title": "labdeck", "version": __version__},
            "paths": {},
            "components": {"schemas": {"Error": _ERROR_SCHEMA}},
        }
        app[OPENAPI_KEY] = doc
        access.add(app, "GET", "/api/openapi.json", _serve, "viewer")
    for path, item in paths.items():
        doc["paths"].setdefault(path, {}).update(item)


async def _serve(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[OPENAPI_KEY])


def error_response(status: int, type_: str, message: str) -> web.Response:
    """The JSON body every REST error has: ``{"error": {"type", "message"}}``."""
    return web.json_response({"error": {"type": type_, "message": message}}, status=status)


_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {"type": {"type": "string"},
                                                              "message": {"type": "string"}}}},
}
