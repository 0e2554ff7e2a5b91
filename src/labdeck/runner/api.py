"""The REST routes of run history and uploads, and their OpenAPI description.

Every error is ``{"error": {"type", "message"}}`` with the status its exception
carries (404 for an unknown run, 409 for the live run, 413 for an upload too large...).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from labdeck.capability import Handler, Route, capability_of
from labdeck.exceptions import BadRequest, InvalidArguments, NotFound, TooLarge
from labdeck.protocol.lifecycle import RunState
from labdeck.runner import history
from labdeck.runner.uploads import upload_folder, upload_folders
from labdeck.web.openapi import error_responses, query_int

if TYPE_CHECKING:
    from labdeck.runner.capability import RunnerCapability
    from labdeck.runner.runs import Runner

__all__ = [
    "MAX_RUN_ID",
    "OPENAPI_PATHS",
    "ROUTES",
    "SCHEMAS",
    "delete_run",
    "list_runs",
    "list_upload_dirs",
    "list_uploads",
    "points_csv",
    "points_jsonl",
    "prune_runs",
    "run_data",
    "run_data_csv",
    "run_data_jsonl",
    "run_info",
    "run_log",
    "upload",
]



def _capability(request: web.Request) -> RunnerCapability:
    cap: RunnerCapability = capability_of(request)  # type: ignore[assignment]
    return cap


def _runner(request: web.Request) -> Runner:
    return _capability(request).runner


MAX_RUN_ID = (1 << 63) - 1
"""The largest id SQLite can store; a larger one names no run."""




def _run_id(request: web.Request) -> int:
    """The ``{id}`` of the path; :class:`NotFound` past :data:`MAX_RUN_ID`, where no run can be."""
    run = int(request.match_info["id"])  # digits only, and at most 255 of them (see web.guard)
    if run > MAX_RUN_ID:
        raise NotFound(f"no run {run}")
    return run


async def list_runs(request: web.Request) -> web.StreamResponse:
    limit, offset = query_int(request, "limit", 50, 1, 1000), query_int(request, "offset", 0)
    q = request.query
    since = query_int(request, "since", -1) if "since" in q else None
    until = query_int(request, "until", -1) if "until" in q else None
    try:
        page = await _runner(request).history(limit, offset, script=q.get("script") or None,
                                              state=q.get("state") or None, user=q.get("user") or None,
                                              since=since, until=until)
    except InvalidArguments as exc:
        raise BadRequest(exc.message) from None
    return web.json_response(page)


async def run_info(request: web.Request) -> web.StreamResponse:
    return web.json_response(await _runner(request).run_info(_run_id(request)))


async def delete_run(request: web.Request) -> web.StreamResponse:
    await _runner(request).delete_run(_run_id(request))
    return web.json_response({"deleted": _run_id(request)})


async def prune_runs(request: web.Request) -> web.StreamResponse:
    keep = query_int(request, "keep", None)  # how many of the newest runs to keep: no default, it deletes
    return web.json_response({"deleted": await _runner(request).prune(keep)})


async def run_log(request: web.Request) -> web.StreamResponse:
    runner, run = _runner(request), _run_id(request)
    after, limit = query_int(request, "after", 0), query_int(request, "limit", 1000, 1, 10_000)
    await runner.run_info(run)  # NotFound for an unknown run
    lines = await runner.store.run(lambda db: history.log_lines(db, run, after, limit))
    return web.json_response({"lines": lines})


async def _points(request: web.Request) -> list[history.Point]:
    runner, run = _runner(request), _run_id(request)
    await runner.run_info(run)
    series = request.query.get("series") or None
    return await runner.store.run(lambda db: list(history.points(db, run, series)))


async def run_data(request: web.Request) -> web.StreamResponse:
    out: dict[str, dict[str, Any]] = {}
    run = _run_id(request)
    labels = await _runner(request).store.run(lambda db: history.series_labels(db, run))
    for series, x, y in await _points(request):
        s = out.get(series)
        if s is None:
            s = out[series] = {"x": [], "y": [], **labels.get(series, {})}
        s["x"].append(x)
        s["y"].append(y)
    return web.json_response({"series": out})


def points_csv(pts: list[history.Point]) -> str:
    """``series,x,y`` lines; numbers in Python's shortest exact form, a missing value empty."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("series", "x", "y"))
    w.writerows((s, "" if x is None else repr(x), "" if y is None else repr(y)) for s, x, y in pts)
    return buf.getvalue()


def points_jsonl(pts: list[history.Point]) -> str:
    """One ``{"series", "x", "y"}`` object per line."""
    return "".join(json.dumps({"series": s, "x": x, "y": y}) + "\n" for s, x, y in pts)


def _download(request: web.Request, body: str, ext: str, content_type: str) -> web.Response:
    name = f"run-{_run_id(request)}-data.{ext}"
    return web.Response(text=body, content_type=content_type, charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def run_data_csv(request: web.Request) -> web.StreamResponse:
    return _download(request, points_csv(await _points(request)), "csv", "text/csv")


async def run_data_jsonl(request: web.Request) -> web.StreamResponse:
    return _download(request, points_jsonl(await _points(request)), "jsonl", "application/x-ndjson")


async def list_upload_dirs(request: web.Request) -> web.StreamResponse:
    return web.json_response({"dirs": [f.rules() for f in upload_folders(_capability(request).ctx.project)]})


async def list_uploads(request: web.Request) -> web.StreamResponse:
    folder = upload_folder(_capability(request).ctx.project, request.match_info["dir"])
    return web.json_response({"files": folder.listing()})


async def upload(request: web.Request) -> web.StreamResponse:
    folder = upload_folder(_capability(request).ctx.project, request.match_info["dir"])
    if request.content_length is not None and request.content_length > folder.max_bytes + 64 * 1024:
        raise TooLarge(f"upload over the limit of {folder.max_bytes} bytes")
    if not request.content_type.startswith("multipart/"):
        raise BadRequest("an upload is multipart/form-data with the file in the field 'file'")
    try:
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.name == "file":
                if not part.filename:
                    raise BadRequest("the 'file' field has no file name")
                saved = await folder.write(part.filename, _chunks(part))
                return web.json_response(saved, status=201)
    except (HttpProcessingError, ValueError) as exc:  # malformed multipart framing or headers
        raise BadRequest(f"not a readable multipart upload: {exc.__class__.__name__}") from None
    raise BadRequest("no field 'file' in the upload")


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(64 * 1024):
        yield chunk


def _op(summary: str, params: list[dict[str, Any]], ok: dict[str, Any], errors: tuple[int, ...],
        ok_status: str = "200") -> dict[str, Any]:
    return {"summary": summary, "parameters": params,
            "responses": {ok_status: {"description": "success", "content": ok}, **error_responses(*errors)}}


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _text(media_type: str) -> dict[str, Any]:
    return {media_type: {"schema": {"type": "string"}}}


def _q(name: str, doc: str, low: int = 0, high: int = 1 << 62, default: int | None = 0,
       required: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": low, "maximum": high}
    if default is not None:
        schema["default"] = default
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": doc}


def _text_q(name: str, doc: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": doc,
            "schema": {"type": "string", "maxLength": 200}}


_ID = {"name": "id", "in": "path", "required": True, "description": "a run id (ids count from 1, never reused)",
       "schema": {"type": "integer", "minimum": 0, "maximum": MAX_RUN_ID}}
_DIR = {"name": "dir", "in": "path", "required": True, "description": "an upload folder named in [run] upload_dirs",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^/.][^/]*$"}}
_SERIES = {"name": "series", "in": "query", "required": False, "description": "only this series",
           "schema": {"type": "string"}}
_NUMBER = {"type": ["number", "null"]}
_TIME = {"type": "number", "description": "seconds since the epoch"}

SCHEMAS: dict[str, Any] = {
    "Run": {"type": "object", "required": list(history.RUN_FIELDS), "properties": {
        "id": {"type": "integer", "minimum": 1}, "script": {"type": "string"}, "user": {"type": ["string", "null"]},
        "state": {"type": "string", "enum": [s.value for s in RunState if s is not RunState.IDLE]},
        "started": _TIME, "ended": {"type": ["number", "null"]}, "exit_code": {"type": ["integer", "null"]},
        "error": {"type": ["string", "null"]}}},
    "RunPage": {"type": "object", "required": ["runs", "total", "scripts", "users"], "properties": {
        "runs": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}},
        "total": {"type": "integer", "minimum": 0, "description": "how many runs the filters let through"},
        "scripts": {"type": "array", "items": {"type": "string"}, "description": "every script in the history"},
        "users": {"type": "array", "items": {"type": "string"}, "description": "everyone who started a run"}}},
    "RunInfo": {"allOf": [{"$ref": "#/components/schemas/Run"}, {
        "type": "object", "required": ["command", "config", "results", "series", "lines"], "properties": {
            "command": {"type": "array", "items": {"type": "string"}}, "config": {"type": "object"},
            "results": {"type": "object"}, "series": {"type": "array", "items": {"type": "string"}},
            "lines": {"type": "integer", "minimum": 0}}}]},
    "LogLines": {"type": "object", "required": ["lines"], "properties": {"lines": {"type": "array", "items": {
        "type": "object", "required": ["n", "t", "stream", "text"], "properties": {
            "n": {"type": "integer", "minimum": 1}, "t": _TIME, "stream": {"type": "string"},
            "text": {"type": "string"}}}}}},
    "Points": {"type": "object", "required": ["series"], "properties": {"series": {
        "type": "object", "additionalProperties": {"type": "object", "required": ["x", "y"], "properties": {
            "x": {"type": "array", "items": _NUMBER}, "y": {"type": "array", "items": _NUMBER},
            "unit": {"type": "string", "description": "of y, as the script's plot(unit=) gave it"},
            "xlabel": {"type": "string"},
            "chart": {"type": "string", "description": "series with the same chart are drawn together"}}}}}},
    "Deleted": {"type": "object", "required": ["deleted"], "properties": {"deleted": {"type": "integer"}}},
    "Pruned": {"type": "object", "required": ["deleted"], "properties": {
        "deleted": {"type": "array", "items": {"type": "integer"}, "description": "the ids deleted"}}},
    "UploadDirs": {"type": "object", "required": ["dirs"], "properties": {"dirs": {"type": "array", "items": {
        "type": "object", "required": ["name", "max_bytes", "patterns", "overwrite"], "properties": {
            "name": {"type": "string"}, "max_bytes": {"type": "integer", "minimum": 1},
            "patterns": {"type": "array", "items": {"type": "string"}}, "overwrite": {"type": "boolean"},
            "overwrite_patterns": {"type": "array", "items": {"type": "string"}},
            "listable": {"type": "boolean"}}}}}},
    "UploadFiles": {"type": "object", "required": ["files"], "properties": {"files": {"type": "array", "items": {
        "type": "object", "required": ["name", "size", "mtime"], "properties": {
            "name": {"type": "string"}, "size": {"type": "integer", "minimum": 0}, "mtime": _TIME}}}}},
    "Saved": {"type": "object", "required": ["path", "size"], "properties": {
        "path": {"type": "string"}, "size": {"type": "integer", "minimum": 0}}},
}
"""The success bodies of :data:`OPENAPI_PATHS`, under ``components.schemas``."""

OPENAPI_PATHS: dict[str, Any] = {
    "/api/runs": {"get": _op("Runs, newest first, optionally only some", [
        _q("limit", "how many runs", 1, 1000, 50), _q("offset", "how many of the newest to skip"),
        _text_q("script", "only runs of this script"),
        {"name": "state", "in": "query", "required": False, "description": "only runs in this state",
         "schema": {"type": "string", "enum": [s.value for s in RunState]}},
        _text_q("user", "only runs started by this user"),
        _q("since", "only runs started at or after this time (epoch seconds)", default=None),
        _q("until", "only runs started before this time (epoch seconds)", default=None)],
        _json("RunPage"), (400,))},
    "/api/runs/prune": {"post": _op("Delete all but the newest `keep` runs (never the live one)", [
        _q("keep", "how many of the newest runs to keep", default=None, required=True)],
        _json("Pruned"), (400, 403))},
    "/api/runs/{id}": {
        "get": _op("One run: its row, command, config, results, series names and line count", [_ID],
                   _json("RunInfo"), (404,)),
        "delete": _op("Delete a run with its log, points and results", [_ID], _json("Deleted"), (403, 404, 409))},
    "/api/runs/{id}/log": {"get": _op("Log lines with n > after, in order", [
        _ID, _q("after", "the last line number already seen"), _q("limit", "how many lines", 1, 10_000, 1000)],
        _json("LogLines"), (400, 404))},
    "/api/runs/{id}/data": {"get": _op("Points by series", [_ID, _SERIES], _json("Points"), (404,))},
    "/api/runs/{id}/data.csv": {"get": _op("Points as CSV (series,x,y), a download", [_ID, _SERIES],
                                           _text("text/csv"), (404,))},
    "/api/runs/{id}/data.jsonl": {"get": _op("Points as JSON lines ({series, x, y} per line), a download",
                                             [_ID, _SERIES], _text("application/x-ndjson"), (404,))},
    "/api/uploads": {"get": _op("The upload folders and their rules (never their paths)", [],
                                _json("UploadDirs"), ())},
    "/api/uploads/{dir}": {
        "get": _op("Files in an upload folder (403 when it is not listable)", [_DIR], _json("UploadFiles"),
                   (403, 404)),
        "post": {**_op("Upload one file (multipart/form-data, field `file` with a file name)", [_DIR],
                       _json("Saved"), (400, 403, 404, 409, 413, 429), ok_status="201"),
                 "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                     "type": "object", "required": ["file"],
                     "properties": {"file": {"type": "string", "format": "binary"}}}}}}},
    },
}


def _route(method: str, path: str, handler: Handler, spec_path: str) -> Route:
    op = method.lower()
    return Route(method, path, handler, openapi={spec_path: {op: OPENAPI_PATHS[spec_path][op]}})


_RUN = "/api/runs/{id:\\d+}"
ROUTES: tuple[Route, ...] = (
    _route("GET", "/api/runs", list_runs, "/api/runs"),
    Route("POST", "/api/runs/prune", prune_runs, role="admin",
          openapi={"/api/runs/prune": OPENAPI_PATHS["/api/runs/prune"]}),
    _route("GET", _RUN, run_info, "/api/runs/{id}"),
    Route("DELETE", _RUN, delete_run, role="admin",
          openapi={"/api/runs/{id}": {"delete": OPENAPI_PATHS["/api/runs/{id}"]["delete"]}}),
    _route("GET", _RUN + "/log", run_log, "/api/runs/{id}/log"),
    _route("GET", _RUN + "/data", run_data, "/api/runs/{id}/data"),
    _route("GET", _RUN + "/data.csv", run_data_csv, "/api/runs/{id}/data.csv"),
    _route("GET", _RUN + "/data.jsonl", run_data_jsonl, "/api/runs/{id}/data.jsonl"),
    _route("GET", "/api/uploads", list_upload_dirs, "/api/uploads"),
    _route("GET", "/api/uploads/{dir}", list_uploads, "/api/uploads/{dir}"),
    _route("POST", "/api/uploads/{dir}", upload, "/api/uploads/{dir}"),
)
"""The run-history and upload routes: viewers read, operators upload, admins delete history."""
