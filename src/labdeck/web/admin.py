"""The admin page (``/admin``) and the admin's REST API (``/api/admin/...``), admin role only.

What the page shows and does, each through one route: users (add one, change a role,
reset a password, delete one; the last admin can be neither demoted nor deleted); login
sessions (end one, through ``/api/sessions`` of :mod:`labdeck.web.auth`); API tokens
(revoke one, which also closes its websockets); request statistics per day and since the
first start, and the slowest routes; the runtime switches; maintenance mode; the periodic
jobs (run one now); the audit log. Every change is written to the audit log before it is
answered.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from labdeck.admin import stats as stats_mod
from labdeck.admin.service import Admin
from labdeck.auth.passwords import MAX_LENGTH as MAX_PASSWORD
from labdeck.auth.passwords import MIN_LENGTH as MIN_PASSWORD
from labdeck.auth.revocation import Notice
from labdeck.auth.users import UserInfo
from labdeck.exceptions import BadRequest, LabdeckError, NotFound
from labdeck.types import ROLES
from labdeck.web import access
from labdeck.web.auth import GATE_KEY, ROLE_CHANGED_CLOSE_CODE, SESSION_ENDED_CLOSE_CODE, client_of
from labdeck.web.openapi import add_openapi_paths, error_response, error_responses, query_int

__all__ = [
    "ADMIN_KEY",
    "ROLE_CHANGED_CLOSE_CODE",
    "SCHEMAS",
    "STATIC",
    "add_admin_routes",
    "add_user",
    "admin_page",
    "audit",
    "change_role",
    "change_switches",
    "delete_user",
    "jobs",
    "maintenance",
    "maintenance_off",
    "maintenance_on",
    "reset_password",
    "revoke_token",
    "run_job",
    "statistics",
    "switches",
    "tokens",
    "users",
]

ADMIN_KEY: web.AppKey[Admin] = web.AppKey("labdeck.admin", Admin)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 16 << 10
"""The largest JSON body an admin route reads."""
MAX_MESSAGE = 2000
STATIC = Path(str(resources.files("labdeck.ui").joinpath("static")))
_TOKEN = "/api/admin/tokens/{name:[a-z][a-z0-9._-]{0,63}}"
_USER = "/api/admin/users/{name:[a-z][a-z0-9._-]{0,63}}"
_JOB = "/api/admin/jobs/{name:[a-z]{1,32}}/run"


def add_admin_routes(app: web.Application, admin: Admin) -> None:
    """The admin page and API on ``app``, with their access rules and OpenAPI description."""
    app[ADMIN_KEY] = admin
    access.add(app, "GET", "/admin", admin_page, "admin")
    for method, path, handler in (
        ("GET", "/api/admin/users", users),
        ("POST", "/api/admin/users", add_user),
        ("PATCH", _USER, change_role),
        ("PUT", _USER + "/password", reset_password),
        ("DELETE", _USER, delete_user),
        ("GET", "/api/admin/tokens", tokens),
        ("DELETE", _TOKEN, revoke_token),
        ("GET", "/api/admin/stats", statistics),
        ("GET", "/api/admin/switches", switches),
        ("PATCH", "/api/admin/switches", change_switches),
        ("GET", "/api/admin/maintenance", maintenance),
        ("PUT", "/api/admin/maintenance", maintenance_on),
        ("DELETE", "/api/admin/maintenance", maintenance_off),
        ("GET", "/api/admin/audit", audit),
        ("GET", "/api/admin/jobs", jobs),
        ("POST", _JOB, run_job),
    ):
        access.add(app, method, path, _admin_api(handler), "admin")
    add_openapi_paths(app, _spec(list(admin.scheduler.jobs)), SCHEMAS)


def _admin_api(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if client_of(request).role != "admin":
            return error_response(403, "AccessDenied", f"{request.method} {request.path} needs the admin role")
        try:
            return await handler(request)
        except LabdeckError as exc:
            return error_response(exc.http_status, exc.wire_type, exc.message)

    return guarded


def _reply(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


async def _body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body.

    Raises:
        BadRequest: not JSON, not an object, or larger than :data:`MAX_BODY`.
    """
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadRequest(f"the body is larger than {MAX_BODY} bytes")
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    return value


async def admin_page(request: web.Request) -> web.StreamResponse:
    if client_of(request).role != "admin":
        raise web.HTTPForbidden(text="The admin page is for the admin role.")
    return web.FileResponse(STATIC / "admin.html", headers={"Cache-Control": "no-cache"})


async def users(request: web.Request) -> web.StreamResponse:
    found = await request.app[GATE_KEY].users.list()
    return _reply({"users": [vars(u) for u in found]})


def _text(body: dict[str, Any], key: str, allowed: set[str]) -> str:
    """``body[key]``, a string; the body has nothing but ``allowed`` keys.

    Raises:
        BadRequest: a key is missing, not a string, or not allowed.
    """
    extra = set(body) - allowed
    if extra:
        raise BadRequest(f"unknown field {sorted(extra)[0]!r}: the body has {', '.join(sorted(allowed))}")
    value = body.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{key} is required, as a string")
    return value


def _role(body: dict[str, Any], allowed: set[str]) -> str:
    role = _text(body, "role", allowed)
    if role not in ROLES:
        raise BadRequest(f"unknown role {role[:40]!r}: must be one of {', '.join(ROLES)}")
    return role


def _user_json(user: UserInfo) -> dict[str, Any]:
    return dict(vars(user))


async def add_user(request: web.Request) -> web.StreamResponse:
    """Add a user: ``{"name", "role", "password"}`` (the initial password, which they may change)."""
    gate, admin = request.app[GATE_KEY], request.app[ADMIN_KEY]
    fields = {"name", "role", "password"}
    body = await _body(request)
    name, role, password = _text(body, "name", fields), _role(body, fields), _text(body, "password", fields)
    await gate.users.add(name, role, password)
    user = await gate.users.get(name)
    await admin.audit.record(client_of(request), "user.add", name=name, role=user.role)
    return _reply({"user": _user_json(user)}, status=201)


async def change_role(request: web.Request) -> web.StreamResponse:
    """Give a user another role (``{"role": ...}``); their websockets reconnect with it.
    The last admin keeps the role (409)."""
    gate, admin = request.app[GATE_KEY], request.app[ADMIN_KEY]
    name = request.match_info["name"]
    role = _role(await _body(request), {"role"})
    old = await gate.users.set_role(name, role, keep_an_admin=True)
    user = await gate.users.get(name)
    if old != user.role:
        await admin.audit.record(client_of(request), "user.role", name=name, old=old, new=user.role)
        gate.close_user(name, ROLE_CHANGED_CLOSE_CODE, "your role changed: connect again")
        await gate.tell_others(Notice("session"))
    return _reply({"user": _user_json(user)})


async def reset_password(request: web.Request) -> web.StreamResponse:
    """Set a user's password (``{"password": ...}``); every session of theirs ends at once,
    and its websockets close with 1008."""
    gate, admin = request.app[GATE_KEY], request.app[ADMIN_KEY]
    name = request.match_info["name"]
    password = _text(await _body(request), "password", {"password"})
    await gate.users.set_password(name, password)
    await admin.audit.record(client_of(request), "user.password", name=name)
    closed = gate.close_user(name, SESSION_ENDED_CLOSE_CODE, "the password was changed: log in again")
    await gate.tell_others(Notice("session"))
    return _reply({"user": _user_json(await gate.users.get(name)), "websockets_closed": closed})


async def delete_user(request: web.Request) -> web.StreamResponse:
    """Delete a user, ending their sessions at once (their websockets close with 1008).
    The last admin stays (409)."""
    gate, admin = request.app[GATE_KEY], request.app[ADMIN_KEY]
    name = request.match_info["name"]
    ended = sum(s.user == name for s in await gate.sessions.list())
    await gate.users.delete(name, keep_an_admin=True)
    await gate.sessions.end_user(name)  # where sessions are not kept beside the users
    await admin.audit.record(client_of(request), "user.delete", name=name)
    closed = gate.close_user(name, SESSION_ENDED_CLOSE_CODE, "the user was deleted")
    await gate.tell_others(Notice("session"))
    return _reply({"deleted": name, "sessions_ended": ended, "websockets_closed": closed})


async def tokens(request: web.Request) -> web.StreamResponse:
    found = await request.app[GATE_KEY].tokens.list()
    return _reply({"tokens": [vars(t) for t in found]})


async def revoke_token(request: web.Request) -> web.StreamResponse:
    """Revoke a token, and close the websockets it opened (close code 1008)."""
    gate, admin = request.app[GATE_KEY], request.app[ADMIN_KEY]
    name = request.match_info["name"]
    await gate.tokens.revoke(name)
    await admin.audit.record(client_of(request), "token.revoke", token=name)
    closed = 0
    for conn in list(gate.connections()):
        if conn.client.via == "token" and conn.client.user == name:
            await conn.close(SESSION_ENDED_CLOSE_CODE, "the API token was revoked")
            closed += 1
    await gate.tell_others(Notice("token", name))
    return _reply({"revoked": name, "websockets_closed": closed})


async def statistics(request: web.Request) -> web.StreamResponse:
    """Per day for the last ``days`` days, the totals since the first start, the slowest routes."""
    admin = request.app[ADMIN_KEY]
    count = query_int(request, "days", 30, 1, 3660)
    await admin.rollup()  # what was counted up to this request is in the store
    since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - (count - 1) * 86400))
    per_day = await admin.store.run(lambda db: stats_mod.days(db, since))
    stats = admin.stats
    return _reply({
        "first_start": stats.first_start,
        "since": since,
        "days": per_day,
        "totals": _totals(stats.totals),
        "slowest": stats.slowest(),
        "websocket": {"frames_in": stats.websocket_frames_in, "bytes_in": stats.websocket_bytes_in,
                      "frames_out": stats.websocket_frames_out, "bytes_out": stats.websocket_bytes_out},
    })


def _totals(totals: dict[tuple[str, str, str], list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {f: 0 for f in stats_mod.FIELDS}
    by: dict[str, dict[str, int]] = {"by_method": {}, "by_class": {}, "by_group": {}}
    for (method, status_class, group), counts in totals.items():
        for i, f in enumerate(stats_mod.FIELDS):
            out[f] += counts[i]
        for table, key in (("by_method", method), ("by_class", status_class), ("by_group", group)):
            by[table][key] = by[table].get(key, 0) + int(counts[0])
    return {**{f: (out[f] if f == "seconds" else int(out[f])) for f in stats_mod.FIELDS}, **by}


async def switches(request: web.Request) -> web.StreamResponse:
    return _reply(request.app[ADMIN_KEY].switches.values())


async def change_switches(request: web.Request) -> web.StreamResponse:
    """Change the switches the body names (``{"timing": true}``); each change is audited."""
    admin = request.app[ADMIN_KEY]
    wanted = await _body(request)
    if not wanted:
        raise BadRequest("name at least one switch: log_level, timing or debug")
    unknown = set(wanted) - set(admin.switches.values())
    if unknown:
        raise BadRequest(f"no switch {sorted(unknown)[0]!r}: there are log_level, timing and debug")
    for name, value in wanted.items():
        try:
            old, new = admin.switches.change(name, value)
        except LabdeckError as exc:
            raise BadRequest(exc.message) from None
        if old != new:
            await admin.audit.record(client_of(request), f"switch.{name}", old=old, new=new)
    return _reply(admin.switches.values())


def _maintenance_state(admin: Admin) -> dict[str, Any]:
    notice = admin.maintenance.current()
    if notice is None:
        return {"on": False, "message": None, "until": None, "retry_after": None}
    return {"on": True, **notice.as_json(), "retry_after": notice.retry_after(time.time())}


async def maintenance(request: web.Request) -> web.StreamResponse:
    return _reply(_maintenance_state(request.app[ADMIN_KEY]))


async def maintenance_on(request: web.Request) -> web.StreamResponse:
    """Put the server in maintenance: ``{"message": "...", "until": <Unix time> | null}``."""
    admin = request.app[ADMIN_KEY]
    body = await _body(request)
    message, until = body.get("message", ""), body.get("until")
    if not isinstance(message, str) or len(message) > MAX_MESSAGE or not message.replace("\n", "").isprintable():
        raise BadRequest(f"message is printable text (and line breaks) of at most {MAX_MESSAGE} characters")
    if message.lower().startswith("until:"):
        raise BadRequest("the message may not start with `until:`: give the end as until")
    if until is not None and (isinstance(until, bool) or not isinstance(until, (int, float))
                              or not 0 < until < 1e11):
        raise BadRequest("until is a Unix time in seconds, or null")
    if set(body) - {"message", "until"}:
        raise BadRequest("the body has message and until, nothing else")
    await admin.audit.record(client_of(request), "maintenance.on", message=message, until=until)
    admin.maintenance.switch_on(message, None if until is None else float(until))
    return _reply(_maintenance_state(admin))


async def maintenance_off(request: web.Request) -> web.StreamResponse:
    admin = request.app[ADMIN_KEY]
    await admin.audit.record(client_of(request), "maintenance.off")
    admin.maintenance.switch_off()
    return _reply(_maintenance_state(admin))


async def audit(request: web.Request) -> web.StreamResponse:
    """The newest audit entries, newest first; ``before`` pages back."""
    limit = query_int(request, "limit", 100, 1, 500)
    before = query_int(request, "before", 1 << 62, 1, 1 << 62)
    return _reply({"entries": await request.app[ADMIN_KEY].audit.entries(limit, before)})


async def jobs(request: web.Request) -> web.StreamResponse:
    return _reply({"jobs": request.app[ADMIN_KEY].scheduler.info()})


async def run_job(request: web.Request) -> web.StreamResponse:
    admin = request.app[ADMIN_KEY]
    name = request.match_info["name"]
    if name not in admin.scheduler.jobs:
        raise NotFound(f"no job {name!r}: there are {', '.join(admin.scheduler.jobs)}")
    await admin.audit.record(client_of(request), "job.run", job=name)
    return _reply(await admin.scheduler.run_now(name))


# -- the OpenAPI description ----------------------------------------------------------

_NUMBER_OR_NULL = {"type": ["number", "null"]}
_JOB_SCHEMA = {
    "type": "object",
    "required": ["name", "title", "every", "next_run", "last_run", "last_seconds", "last_ok", "last_result",
                 "runs", "running"],
    "properties": {"name": {"type": "string"}, "title": {"type": "string"}, "every": {"type": "number"},
                   "next_run": {"type": "number"}, "last_run": _NUMBER_OR_NULL, "last_seconds": _NUMBER_OR_NULL,
                   "last_ok": {"type": ["boolean", "null"]}, "last_result": {"type": "string"},
                   "runs": {"type": "integer"}, "running": {"type": "boolean"}},
}
_SWITCHES = {
    "type": "object",
    "required": ["log_level", "timing", "debug"],
    "properties": {"log_level": {"type": "string", "enum": ["DEBUG", "INFO", "WARNING", "ERROR"]},
                   "timing": {"type": "boolean"}, "debug": {"type": "boolean"}},
}
_MAINTENANCE = {
    "type": "object",
    "required": ["on", "message", "until", "retry_after"],
    "properties": {"on": {"type": "boolean"}, "message": {"type": ["string", "null"]}, "until": _NUMBER_OR_NULL,
                   "retry_after": {"type": ["integer", "null"]}},
}
_NAME_SCHEMA = {"type": "string", "pattern": "^[a-z][a-z0-9._-]{0,63}$"}
_ROLE_SCHEMA = {"type": "string", "enum": list(ROLES)}
_PASSWORD_SCHEMA = {"type": "string", "minLength": MIN_PASSWORD, "maxLength": MAX_PASSWORD}
_COUNTS = {f: {"type": "number" if f == "seconds" else "integer"} for f in stats_mod.FIELDS}
_BY = {"type": "object", "additionalProperties": {"type": "integer"}}
SCHEMAS: dict[str, Any] = {
    "AdminJob": _JOB_SCHEMA,
    "AdminSwitches": _SWITCHES,
    "AdminMaintenance": _MAINTENANCE,
    "AdminStats": {
        "type": "object",
        "required": ["first_start", "since", "days", "totals", "slowest", "websocket"],
        "properties": {
            "first_start": _NUMBER_OR_NULL,
            "since": {"type": "string"},
            "days": {"type": "array", "items": {
                "type": "object", "required": ["day", *stats_mod.FIELDS, "by_class"],
                "properties": {"day": {"type": "string"}, **_COUNTS, "by_class": _BY}}},
            "totals": {"type": "object", "required": [*stats_mod.FIELDS, "by_method", "by_class", "by_group"],
                       "properties": {**_COUNTS, "by_method": _BY, "by_class": _BY, "by_group": _BY}},
            "slowest": {"type": "array", "items": {
                "type": "object", "required": ["route", "count", "mean", "max"],
                "properties": {"route": {"type": "string"}, "count": {"type": "integer"},
                               "mean": {"type": "number"}, "max": {"type": "number"}}}},
            "websocket": {"type": "object", "required": ["frames_in", "bytes_in", "frames_out", "bytes_out"],
                          "properties": {k: {"type": "integer"}
                                         for k in ("frames_in", "bytes_in", "frames_out", "bytes_out")}},
        },
    },
}


def _ok(schema: dict[str, Any], *errors: int) -> dict[str, Any]:
    return {"200": {"description": "success", "content": {"application/json": {"schema": schema}}},
            **error_responses(*errors)}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": [key], "properties": {key: {"type": "array", "items": item}}}


def _body_spec(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _spec(job_names: list[str]) -> dict[str, Any]:
    user = {"type": "object", "required": ["name", "role", "created", "last_login"],
            "properties": {"name": {"type": "string"}, "role": {"type": "string"}, "created": {"type": "number"},
                           "last_login": _NUMBER_OR_NULL}}
    token = {"type": "object", "required": ["name", "role", "created", "expires", "last_used"],
             "properties": {"name": {"type": "string"}, "role": {"type": "string"}, "created": {"type": "number"},
                            "expires": _NUMBER_OR_NULL, "last_used": _NUMBER_OR_NULL}}
    entry = {"type": "object", "required": ["id", "t", "user", "via", "peer", "action", "detail"],
             "properties": {"id": {"type": "integer"}, "t": {"type": "number"}, "user": {"type": ["string", "null"]},
                            "via": {"type": "string"}, "peer": {"type": "string"}, "action": {"type": "string"},
                            "detail": {"type": "object"}}}
    name = {"name": "name", "in": "path", "required": True, "schema": _NAME_SCHEMA}
    one_user = {"type": "object", "required": ["user"], "properties": {"user": user}}
    job = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": job_names}}
    admin = "admin"
    return {
        "/api/admin/users": {
            "get": {"summary": "Every user", "x-labdeck-role": admin, "responses": _ok(_list_of("users", user))},
            "post": {"summary": "Add a user with a role and an initial password", "x-labdeck-role": admin,
                     "requestBody": _body_spec({"type": "object", "required": ["name", "role", "password"],
                                                "additionalProperties": False,
                                                "properties": {"name": _NAME_SCHEMA, "role": _ROLE_SCHEMA,
                                                               "password": _PASSWORD_SCHEMA}}),
                     "responses": {"201": {"description": "added", "content": {"application/json": {
                         "schema": one_user}}}, **error_responses(400, 409, 413)}}},
        "/api/admin/users/{name}": {
            "patch": {"summary": "Give a user another role; their websockets close with 1012 and reconnect with it; "
                                 "the last admin keeps the role (409)", "x-labdeck-role": admin,
                      "parameters": [name],
                      "requestBody": _body_spec({"type": "object", "required": ["role"], "additionalProperties": False,
                                                 "properties": {"role": _ROLE_SCHEMA}}),
                      "responses": _ok(one_user, 400, 404, 409, 413)},
            "delete": {"summary": "Delete a user and end their sessions at once (their websockets close with "
                                  "1008); the last admin stays (409)", "x-labdeck-role": admin,
                       "parameters": [name],
                       "responses": _ok({"type": "object", "required": ["deleted", "sessions_ended",
                                                                        "websockets_closed"],
                                         "properties": {"deleted": {"type": "string"},
                                                        "sessions_ended": {"type": "integer"},
                                                        "websockets_closed": {"type": "integer"}}}, 404, 409)}},
        "/api/admin/users/{name}/password": {"put": {
            "summary": "Set a user's password; their sessions end and their websockets close with 1008",
            "x-labdeck-role": admin, "parameters": [name],
            "requestBody": _body_spec({"type": "object", "required": ["password"], "additionalProperties": False,
                                       "properties": {"password": _PASSWORD_SCHEMA}}),
            "responses": _ok({"type": "object", "required": ["user", "websockets_closed"],
                              "properties": {"user": user, "websockets_closed": {"type": "integer"}}},
                             400, 404, 413)}},
        "/api/admin/tokens": {"get": {"summary": "Every API token (never its secret)", "x-labdeck-role": admin,
                                      "responses": _ok(_list_of("tokens", token))}},
        "/api/admin/tokens/{name}": {"delete": {
            "summary": "Revoke a token; the websockets it opened close with 1008", "x-labdeck-role": admin,
            "parameters": [name],
            "responses": _ok({"type": "object", "required": ["revoked", "websockets_closed"],
                              "properties": {"revoked": {"type": "string"},
                                             "websockets_closed": {"type": "integer"}}}, 404)}},
        "/api/admin/stats": {"get": {
            "summary": "Requests per day and since the first start, the slowest routes", "x-labdeck-role": admin,
            "parameters": [{"name": "days", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 3660, "default": 30}}],
            "responses": _ok(_ref("AdminStats"), 400)}},
        "/api/admin/switches": {
            "get": {"summary": "The runtime switches", "x-labdeck-role": admin,
                    "responses": _ok(_ref("AdminSwitches"))},
            "patch": {"summary": "Change runtime switches, effective at once; each change is audited",
                      "x-labdeck-role": admin,
                      "requestBody": _body_spec({"type": "object", "minProperties": 1, "additionalProperties": False,
                                                 "properties": _SWITCHES["properties"]}),
                      "responses": _ok(_ref("AdminSwitches"), 400, 413)}},
        "/api/admin/maintenance": {
            "get": {"summary": "Whether the server is in maintenance mode", "x-labdeck-role": admin,
                    "responses": _ok(_ref("AdminMaintenance"))},
            "put": {"summary": "Put the server in maintenance mode (writes the data folder's maintenance file)",
                    "x-labdeck-role": admin,
                    "requestBody": _body_spec({"type": "object", "additionalProperties": False, "properties": {
                        "message": {"type": "string", "maxLength": MAX_MESSAGE},
                        "until": {"type": ["number", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 1e11}}}),
                    "responses": _ok(_ref("AdminMaintenance"), 400, 413)},
            "delete": {"summary": "End maintenance mode (removes the maintenance file)", "x-labdeck-role": admin,
                       "responses": _ok(_ref("AdminMaintenance"))}},
        "/api/admin/audit": {"get": {
            "summary": "The audit log, newest first", "x-labdeck-role": admin,
            "parameters": [
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
                {"name": "before", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 1 << 62}}],
            "responses": _ok(_list_of("entries", entry), 400)}},
        "/api/admin/jobs": {"get": {"summary": "The periodic jobs with their last and next run",
                                    "x-labdeck-role": admin, "responses": _ok(_list_of("jobs", _ref("AdminJob")))}},
        "/api/admin/jobs/{name}/run": {"post": {
            "summary": "Run a job now and wait for it", "x-labdeck-role": admin, "parameters": [job],
            "responses": _ok(_ref("AdminJob"), 404, 409)}},
    }
