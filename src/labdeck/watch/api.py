"""The REST routes of watches and stations, with their OpenAPI description.

Every error is ``{"error": {"type", "message"}}``: 400 for a bad parameter or body,
403 for a role too low, 404 for an unknown watch, station or reference. No route ever
returns a patient-identifying field: labdeck never reads them.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from labdeck.capability import Handler, Route, capability_of
from labdeck.exceptions import BadRequest, NotFound
from labdeck.types import Role
from labdeck.watch.dicom import protocols
from labdeck.web.openapi import query_int

if TYPE_CHECKING:
    from labdeck.watch.capability import WatchCapability

__all__ = [
    "ROUTES",
    "acknowledge",
    "delete_ref",
    "export_schema",
    "fetch_file",
    "get_station",
    "import_schema",
    "list_agents",
    "list_files",
    "list_refs",
    "list_stations",
    "list_watches",
    "pin_ref",
    "report",
]

MAX_NAME = 256


def _cap(request: web.Request) -> WatchCapability:
    cap: WatchCapability = capability_of(request)  # type: ignore[assignment]
    return cap


def _text(request: web.Request, name: str, *, required: bool = False) -> str | None:
    value = request.query.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"query parameter {name} is required")
        return None
    if len(value) > MAX_NAME or not value.isprintable():
        raise BadRequest(f"query parameter {name} must be 1 to {MAX_NAME} printable characters")
    return value


async def list_watches(request: web.Request) -> web.StreamResponse:
    cap = _cap(request)
    return web.json_response(
        {"watches": {name: {"kind": cap.configs[name].kind, **w.health()} for name, w in cap.watchers.items()}}
    )


async def list_files(request: web.Request) -> web.StreamResponse:
    cap, name = _cap(request), request.match_info["watch"]
    if name not in cap.watchers and name not in await cap.agents.watch_names():
        raise NotFound(f"no watch named {name!r}")
    limit, before = query_int(request, "limit", 100, 1, 1000), query_int(request, "before", 1 << 62, 1, 1 << 62)
    rows = await cap.ctx.store.query(
        "SELECT id, path, size, mtime_ns, t FROM file_events WHERE watch = ? AND id < ? ORDER BY id DESC LIMIT ?",
        (name, before, limit),
    )
    return web.json_response(
        {"files": [{"id": r[0], "path": r[1], "size": r[2], "mtime": r[3] / 1e9, "t": r[4]} for r in rows]}
    )


async def list_stations(request: web.Request) -> web.StreamResponse:
    return web.json_response(_cap(request).stations.state())


async def get_station(request: web.Request) -> web.StreamResponse:
    cap, name = _cap(request), request.match_info["station"]
    state = cap.stations.state()
    if name not in state["stations"]:
        raise NotFound(f"no station named {name!r} has sent a file")
    return web.json_response({"station": state["stations"][name], "units": state["units"]})


async def list_refs(request: web.Request) -> web.StreamResponse:
    project = _text(request, "project")
    refs = await _cap(request).ctx.store.run(lambda db: protocols.list_refs(db, project))
    return web.json_response({"references": refs})


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _name(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
        raise BadRequest(f"{key!r} must be a string of 1 to {MAX_NAME} characters")
    return value


async def pin_ref(request: web.Request) -> web.StreamResponse:
    cap, body = _cap(request), await _body(request)
    if "station" in body:
        state = cap.stations.current(_name(body, "station"))
        if state is None:
            raise NotFound(f"no station named {body['station']!r} has sent a file")
        project, sequence, params = state.project, state.sequence, dict(state.params)
    else:
        project, sequence = _name(body, "project"), _name(body, "sequence")
        given = body.get("params")
        if not isinstance(given, dict) or not given:
            raise BadRequest("'params' must be a non-empty object of parameters")
        params = given
    user = request.get("user") if isinstance(request.get("user"), str) else None
    await cap.ctx.store.run(lambda db: protocols.pin(db, project, sequence, params, user))
    cap.dicom.forget_references()
    cap.ctx.log.info("reference pinned for %s / %s", project, sequence)
    return web.json_response({"project": project, "sequence": sequence, "source": "pinned", "params": params})


async def delete_ref(request: web.Request) -> web.StreamResponse:
    cap = _cap(request)
    project, sequence = _text(request, "project", required=True), _text(request, "sequence", required=True)
    assert project is not None and sequence is not None
    if not await cap.ctx.store.run(lambda db: protocols.unpin(db, project, sequence)):
        raise NotFound(f"no pinned reference for {project!r} / {sequence!r}")
    cap.dicom.forget_references()
    return web.json_response({"project": project, "sequence": sequence, "unpinned": True})


async def export_schema(request: web.Request) -> web.StreamResponse:
    from labdeck.watch.cli import export_refs
    from labdeck.watch.config import tolerances_of

    cap, project = _cap(request), _text(request, "project")
    tolerances = tolerances_of(cap.configs)
    schema, notes = await cap.ctx.store.run(lambda db: export_refs(db, project, tolerances))
    return web.json_response({"schema": schema, "notes": notes})


async def import_schema(request: web.Request) -> web.StreamResponse:
    from labdeck.watch.cli import import_refs

    cap, body = _cap(request), await _body(request)
    project = _name(body, "project")
    mapping = body.get("map") or {}
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(v) <= MAX_NAME for k, v in mapping.items()
    ):
        raise BadRequest("'map' must be an object of acquisition: sequence names")
    by = request.get("user") if isinstance(request.get("user"), str) else None
    pinned, notes = await cap.ctx.store.run(lambda db: import_refs(db, project, body.get("schema"), mapping, by))
    cap.dicom.forget_references()
    cap.ctx.log.info("dicompare schema imported for %s: %d references", project, len(pinned))
    return web.json_response({"project": project, "pinned": pinned, "notes": notes})


async def report(request: web.Request) -> web.StreamResponse:
    from labdeck.watch.dicom import report as compliance

    cap = _cap(request)
    project, session, form = _text(request, "project"), _text(request, "session"), _text(request, "format") or "json"
    if form not in ("json", "html"):
        raise BadRequest("query parameter format must be json or html")
    found = await cap.ctx.store.run(lambda db: compliance.build(db, project, session))
    if form == "html":
        return web.Response(
            text=compliance.html(found),
            content_type="text/html",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )
    return web.json_response(found)


async def acknowledge(request: web.Request) -> web.StreamResponse:
    cap, name = _cap(request), request.match_info["station"]
    if cap.stations.current(name) is None:
        raise NotFound(f"no station named {name!r} has sent a file")
    alert = cap.stations.acknowledge(name)
    by = request.get("user") if isinstance(request.get("user"), str) else None
    if alert is not None:
        await cap.ctx.store.execute(
            "INSERT INTO dicom_acks (t, station, by, alert) VALUES (?, ?, ?, ?)",
            (time.time(), name, by, json.dumps(alert)),
        )
        cap.ctx.log.info("station %s: alert acknowledged by %s", name, by or "an open-mode client")
    return web.json_response({"station": name, "acknowledged": alert, "by": by})


async def list_agents(request: web.Request) -> web.StreamResponse:
    return web.json_response({"agents": await _cap(request).agents.overview()})


async def fetch_file(request: web.Request) -> web.StreamResponse:
    cap, name, body = _cap(request), request.match_info["agent"], await _body(request)
    watch, path = _name(body, "watch"), body.get("path")
    if not isinstance(path, str):
        raise BadRequest("'path' must be the file's path relative to the watch's folder")
    data = await cap.agents.fetch(name, watch, path)
    who = request.get("user") if isinstance(request.get("user"), str) else "an admin"
    cap.ctx.log.info("agent %s: %s fetched %s/%s (%d bytes)", name, who, watch, path, len(data))
    return web.Response(
        body=data,
        content_type="application/octet-stream",
        headers={
            "X-Content-SHA256": hashlib.sha256(data).hexdigest(),
            "Content-Disposition": f'attachment; filename="{_filename(path)}"',
        },
    )


def _filename(path: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in path.rsplit("/", 1)[-1])[:100] or "file"


def _errors(*codes: int) -> dict[str, Any]:
    why = {
        400: "a parameter or the body is invalid",
        403: "the client's role is too low, or the agent refused",
        404: "no such watch, station, reference or agent",
        504: "the agent did not answer in time",
    }
    return {
        str(c): {
            "description": why[c],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for c in codes
    }


def _ok(schema: dict[str, Any], summary: str, *codes: int, **extra: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        **extra,
        "responses": {
            "200": {"description": "success", "content": {"application/json": {"schema": schema}}},
            **_errors(*codes),
        },
    }


def _query(name: str, schema: dict[str, Any], doc: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": doc, "schema": schema}


_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME}
_OBJ = {"type": "object"}
_STATION_PATH = {
    "name": "station",
    "in": "path",
    "required": True,
    "schema": _NAME,
    "description": "the station name, (0008,1010)",
}
_WATCH_PATH = {
    "name": "watch",
    "in": "path",
    "required": True,
    "description": "the [watch.<name>] table's name",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/watches": {"get": _ok(_OBJ, "Every watch: kind, state, root, backend, error, restarts, files", 403)},
    "/api/files/{watch}": {
        "get": _ok(
            _OBJ,
            "A watch's files, newest first: {files: [{id, path, size, mtime, t}]}",
            400,
            403,
            404,
            parameters=[
                _WATCH_PATH,
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "files at most"),
                _query("before", {"type": "integer", "minimum": 1}, "only files with a smaller id (paging)"),
            ],
        )
    },
    "/api/stations": {"get": _ok(_OBJ, "Every scanner station's state: {stations: {name: state}, units}", 403)},
    "/api/stations/{station}": {
        "get": _ok(_OBJ, "One station's state: {station, units}", 403, 404, parameters=[_STATION_PATH])
    },
    "/api/dicom/refs": {
        "get": _ok(
            _OBJ,
            "The reference protocols: {references: [{project, sequence, source, count, params}]}",
            400,
            403,
            parameters=[_query("project", _NAME, "only this project")],
        ),
        "post": _ok(
            _OBJ,
            "Pin a reference: the current series of a station, or explicit parameters",
            400,
            403,
            404,
            requestBody={
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"type": "object", "required": ["station"], "properties": {"station": _NAME}},
                                {
                                    "type": "object",
                                    "required": ["project", "sequence", "params"],
                                    "properties": {
                                        "project": _NAME,
                                        "sequence": _NAME,
                                        "params": {"type": "object", "minProperties": 1},
                                    },
                                },
                            ]
                        }
                    }
                },
            },
        ),
        "delete": _ok(
            _OBJ,
            "Unpin a reference (the learned one applies again)",
            400,
            403,
            404,
            parameters=[_query("project", _NAME, "the project", True), _query("sequence", _NAME, "the sequence", True)],
        ),
    },
    "/api/dicom/refs/schema": {
        "get": _ok(
            _OBJ,
            "A project's references as a dicompare JSON schema: {schema, notes}",
            400,
            403,
            parameters=[_query("project", _NAME, "the project (needed when there is more than one)")],
        ),
        "post": _ok(
            _OBJ,
            "Pin the references a dicompare JSON schema states: {project, pinned, notes}",
            400,
            403,
            requestBody={
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["project", "schema"],
                            "properties": {
                                "project": _NAME,
                                "schema": {"type": "object", "required": ["acquisitions"]},
                                "map": {"type": "object", "additionalProperties": _NAME},
                            },
                        }
                    }
                },
            },
        ),
    },
    "/api/dicom/report": {
        "get": {
            "summary": "The compliance report: per project, sessions, the share of compliant files per sequence, "
            "every deviation",
            "parameters": [
                _query("project", _NAME, "only this project"),
                _query("session", _NAME, "only this session"),
                _query("format", {"type": "string", "enum": ["json", "html"], "default": "json"}, "JSON or a page"),
            ],
            "responses": {
                "200": {
                    "description": "the report",
                    "content": {"application/json": {"schema": _OBJ}, "text/html": {"schema": {"type": "string"}}},
                },
                **_errors(400, 403),
            },
        }
    },
    "/api/agents": {
        "get": _ok(_OBJ, "Every remote agent: {agents: [{name, connected, watches, last_seen, last_seq, "
                   "last_file, backlog}]}", 403)
    },
    "/api/agents/{agent}/fetch": {
        "post": {
            "summary": "A file's contents from a connected agent, within its watched folders (admin: the file "
            "holds patient data); X-Content-SHA256 is its checksum, checked on the way",
            "parameters": [
                {
                    "name": "agent",
                    "in": "path",
                    "required": True,
                    "description": "the agent's name",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["watch", "path"],
                            "properties": {
                                "watch": _NAME,
                                "path": {"type": "string", "minLength": 1, "maxLength": 1024},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "the file",
                    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                },
                **_errors(400, 403, 404, 504),
            },
        }
    },
    "/api/stations/{station}/ack": {
        "post": _ok(
            _OBJ,
            "Acknowledge a station's alert (recorded with who and when): {station, acknowledged, by}",
            403,
            404,
            parameters=[_STATION_PATH],
        )
    },
}

def _route(method: str, path: str, handler: Handler, role: Role | None = None) -> Route:
    """A route described by its own entry of :data:`OPENAPI_PATHS`."""
    operation = OPENAPI_PATHS[path][method.lower()]
    return Route(method, path, handler, role=role, openapi={path: {method.lower(): operation}})


ROUTES = [
    _route("GET", "/api/watches", list_watches),
    _route("GET", "/api/files/{watch}", list_files),
    _route("GET", "/api/stations", list_stations),
    _route("GET", "/api/stations/{station}", get_station),
    _route("GET", "/api/dicom/refs", list_refs),
    _route("POST", "/api/dicom/refs", pin_ref, role="operator"),
    _route("DELETE", "/api/dicom/refs", delete_ref, role="operator"),
    _route("GET", "/api/dicom/refs/schema", export_schema),
    _route("POST", "/api/dicom/refs/schema", import_schema, role="operator"),
    _route("GET", "/api/dicom/report", report),
    _route("GET", "/api/agents", list_agents),
    _route("POST", "/api/agents/{agent}/fetch", fetch_file, role="admin"),
    _route("POST", "/api/stations/{station}/ack", acknowledge, role="operator"),
]
