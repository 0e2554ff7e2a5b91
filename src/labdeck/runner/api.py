"""The REST routes of run history and uploads, and their OpenAPI description.

Every error is ``{"error": {"type", "message"}}`` with the status its exception
carries (404 for an unknown run, 409 for the live run, 413 for an upload too large...).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from labdeck.exceptions import BadRequest, LabdeckError, NotFound, TooLarge
from labdeck.runner import history
from labdeck.runner.uploads import upload_folder, upload_folders
from labdeck.web.app import DECK_KEY
from labdeck.web.openapi import add_openapi_paths, error_response

if TYPE_CHECKING:
    from labdeck.runner.runs import Runner

__all__ = [
    "MAX_RUN_ID",
    "OPENAPI_PATHS",
    "add_runner_routes",
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

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_runner_routes(app: web.Application) -> None:
    """Add the run-history and upload routes to ``app`` (``deck.routes.append(add_runner_routes)``)."""
    r = app.router
    r.add_get("/api/runs", _rest(list_runs))
    r.add_post("/api/runs/prune", _rest(prune_runs))
    r.add_get("/api/runs/{id:\\d+}", _rest(run_info))
    r.add_delete("/api/runs/{id:\\d+}", _rest(delete_run))
    r.add_get("/api/runs/{id:\\d+}/log", _rest(run_log))
    r.add_get("/api/runs/{id:\\d+}/data", _rest(run_data))
    r.add_get("/api/runs/{id:\\d+}/data.csv", _rest(run_data_csv))
    r.add_get("/api/runs/{id:\\d+}/data.jsonl", _rest(run_data_jsonl))
    r.add_get("/api/uploads", _rest(list_upload_dirs))
    r.add_get("/api/uploads/{dir}", _rest(list_uploads))
    r.add_post("/api/uploads/{dir}", _rest(upload))
    add_openapi_paths(app, OPENAPI_PATHS)


def _rest(fn: Handler) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except LabdeckError as exc:
            return error_response(exc.http_status, exc.wire_type, exc.message)

    return handle


def _runner(request: web.Request) -> Runner:
    return request.app[DECK_KEY].runner


MAX_RUN_ID = (1 << 63) - 1
"""The largest id SQLite can store; a larger one names no run."""


def _int(request: web.Request, name: str, default: int | None, low: int = 0, high: int = 1 << 62) -> int:
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


def _run_id(request: web.Request) -> int:
    """The ``{id}`` of the path; :class:`NotFound` past :data:`MAX_RUN_ID`, where no run can be."""
    run = int(request.match_info["id"])  # digits only, and at most 255 of them (see web.guard)
    if run > MAX_RUN_ID:
        raise NotFound(f"no run {run}")
    return run


async def list_runs(request: web.Request) -> web.StreamResponse:
    limit, offset = _int(request, "limit", 50, 1, 1000), _int(request, "offset", 0)
    return web.json_response(await _runner(request).history(limit, offset))


async def run_info(request: web.Request) -> web.StreamResponse:
    return web.json_response(await _runner(request).run_info(_run_id(request)))


async def delete_run(request: web.Request) -> web.StreamResponse:
    await _runner(request).delete_run(_run_id(request))
    return web.json_response({"deleted": _run_id(request)})


async def prune_runs(request: web.Request) -> web.StreamResponse:
    keep = _int(request, "keep", None)  # how many of the newest runs to keep: no default, it deletes
    return web.json_response({"deleted": await _runner(request).prune(keep)})


async def run_log(request: web.Request) -> web.StreamResponse:
    runner, run = _runner(request), _run_id(request)
    after, limit = _int(request, "after", 0), _int(request, "limit", 1000, 1, 10_000)
    await runner.run_info(run)  # NotFound for an unknown run
    lines = await runner.store.run(lambda db: history.log_lines(db, run, after, limit))
    return web.json_response({"lines": lines})


async def _points(request: web.Request) -> list[history.Point]:
    runner, run = _runner(request), _run_id(request)
    await runner.run_info(run)
    series = request.query.get("series") or None
    return await runner.store.run(lambda db: list(history.points(db, run, series)))


async def run_data(request: web.Request) -> web.StreamResponse:
    out: dict[str, dict[str, list[Any]]] = {}
    for series, x, y in await _points(request):
        s = out.setdefault(series, {"x": [], "y": []})
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
    return web.json_response({"dirs": [f.rules() for f in upload_folders(request.app[DECK_KEY].config)]})


async def list_uploads(request: web.Request) -> web.StreamResponse:
    folder = upload_folder(request.app[DECK_KEY].config, request.match_info["dir"])
    return web.json_response({"files": folder.listing()})


async def upload(request: web.Request) -> web.StreamResponse:
    folder = upload_folder(request.app[DECK_KEY].config, request.match_info["dir"])
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


def _op(summary: str, params: list[dict[str, Any]] | None = None, ok: str = "200",
        content: str = "application/json") -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": params or [],
        "responses": {ok: {"description": "success", "content": {content: {}}},
                      "default": {"description": "error",
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
    }


def _q(name: str, kind: str = "integer", doc: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": doc}


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
_DIR = {"name": "dir", "in": "path", "required": True, "schema": {"type": "string"},
        "description": "an upload folder named in [run] upload_dirs"}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/runs": {"get": _op("Runs, newest first: {runs: [...], total}",
                             [_q("limit", doc="1-1000, default 50"), _q("offset", doc="default 0")])},
    "/api/runs/prune": {"post": _op("Delete all but the newest `keep` runs (never the live one)",
                                    [{**_q("keep"), "required": True}])},
    "/api/runs/{id}": {"get": _op("One run: its row, command, config, results, series names", [_ID]),
                       "delete": _op("Delete a run with its log, points and results", [_ID])},
    "/api/runs/{id}/log": {"get": _op("Log lines with n > after: {lines: [{n, t, stream, text}]}",
                                      [_ID, _q("after"), _q("limit", doc="1-10000, default 1000")])},
    "/api/runs/{id}/data": {"get": _op("Points by series: {series: {name: {x: [...], y: [...]}}}",
                                       [_ID, _q("series", "string")])},
    "/api/runs/{id}/data.csv": {"get": _op("Points as CSV (series,x,y)", [_ID, _q("series", "string")],
                                           content="text/csv")},
    "/api/runs/{id}/data.jsonl": {"get": _op("Points as JSON lines ({series, x, y} per line)",
                                             [_ID, _q("series", "string")], content="application/x-ndjson")},
    "/api/uploads": {"get": _op("The upload folders and their rules (never their paths): "
                                "{dirs: [{name, max_bytes, patterns, overwrite}]}")},
    "/api/uploads/{dir}": {
        "get": _op("Files in an upload folder: {files: [{name, size, mtime}]}", [_DIR]),
        "post": {**_op("Upload one file (multipart/form-data, field `file`): {path, size}", [_DIR], ok="201"),
                 "requestBody": {"content": {"multipart/form-data": {"schema": {
                     "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}}},
    },
}
