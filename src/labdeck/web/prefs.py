"""What the dashboard remembers for each user: cards of the overview, settings being edited,
the last script, the log's follow mode, the stations' alerts (notification and sound).

Routes (``viewer``: anyone who may see the dashboard keeps their own preferences):

* ``GET /api/prefs`` — ``{"owner": "user" | "browser", "prefs": {key: value}}``
* ``PUT /api/prefs/{key}`` — the body is the key's new JSON value; replies ``{"key", "value"}``
* ``DELETE /api/prefs/{key}`` — forget it (204, also when it was not set)

Whose they are: a logged-in user's (or an API token's user) follow that user from browser
to browser. In open mode there are no users, so each browser keeps its own, under the
random id of its ``labdeck-browser`` cookie (HttpOnly, set on first use). A preference is
a JSON value of at most :data:`MAX_VALUE` bytes under a key like ``overview.cards``; an
owner has at most :data:`MAX_KEYS` of them, of :data:`MAX_BYTES` together. Values are stored and handed back as given:
the dashboard checks what it reads, as it would any other input.

Browser ids cost nothing to make (a client that drops its cookies gets a new one), so in
open mode the server keeps at most :data:`MAX_BROWSERS` browsers' preferences: when a new
browser saves its first one, those of browsers that saved nothing for a year (the cookie's
lifetime) are forgotten, then, while there are still too many, those of the browser that
saved least recently. A user's preferences are never pruned.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from labdeck.capability import Handler
from labdeck.exceptions import BadRequest, Busy, LabdeckError, TooLarge
from labdeck.web import access
from labdeck.web.auth import GATE_KEY, client_of
from labdeck.web.openapi import add_openapi_paths, error_response, error_responses

if TYPE_CHECKING:
    from labdeck.store import Store

__all__ = ["BROWSER_COOKIE", "KEY_PATTERN", "MAX_BROWSERS", "MAX_BYTES", "MAX_KEYS", "MAX_VALUE", "add_routes",
           "owner_of"]

BROWSER_COOKIE = "labdeck-browser"
MAX_VALUE = 16 * 1024
"""Largest value of one preference, in bytes of JSON."""
MAX_KEYS = 100
"""Most preferences one owner keeps."""
MAX_BYTES = 128 * 1024
"""Most bytes of JSON all of one owner's preferences hold together."""
MAX_BROWSERS = 1000
"""Most browsers (open mode) whose preferences are kept; the least recently saved go first."""
KEY_PATTERN = r"[a-z][a-z0-9_.-]{0,63}"
_KEY = re.compile(KEY_PATTERN)
_BROWSER_ID = re.compile(r"[A-Za-z0-9_-]{24}")
_YEAR = 365 * 24 * 3600


def add_routes(app: web.Application, store: Store) -> None:
    """Add the preference routes to ``app``, reading and writing ``store``."""

    async def get_prefs(request: web.Request) -> web.StreamResponse:
        owner, fresh = owner_of(request)
        rows = await store.query("SELECT key, value FROM prefs WHERE owner = ? ORDER BY key", (owner,))
        reply = web.json_response({"owner": owner.partition(":")[0], "prefs": {r[0]: json.loads(r[1]) for r in rows}},
                                  headers={"Cache-Control": "no-store"})
        _remember(request, reply, owner, fresh)
        return reply

    async def put_pref(request: web.Request) -> web.StreamResponse:
        key = _key(request)
        value = await _value(request)
        owner, fresh = owner_of(request)
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        await store.run(lambda db: _save(db, owner, key, text))
        reply = web.json_response({"key": key, "value": value})
        _remember(request, reply, owner, fresh)
        return reply

    async def delete_pref(request: web.Request) -> web.StreamResponse:
        key = _key(request)
        owner, _ = owner_of(request)
        await store.execute("DELETE FROM prefs WHERE owner = ? AND key = ?", (owner, key))
        return web.Response(status=204)

    access.add(app, "GET", "/api/prefs", _answering(get_prefs), "viewer")
    access.add(app, "PUT", "/api/prefs/{key}", _answering(put_pref), "viewer")
    access.add(app, "DELETE", "/api/prefs/{key}", _answering(delete_pref), "viewer")
    add_openapi_paths(app, _SPEC, {"Prefs": _PREFS_SCHEMA})


def _answering(handler: Handler) -> Handler:
    """``handler`` with a :class:`LabdeckError` it raises as the JSON error body."""

    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except LabdeckError as exc:
            return error_response(exc.http_status, exc.wire_type, exc.message)

    return answer


def owner_of(request: web.Request) -> tuple[str, bool]:
    """``("user:NAME" | "browser:ID", made)``: whose preferences ``request`` reads and writes;
    ``made`` is true when the browser had no valid id yet and this one is new."""
    client = client_of(request)
    if client.user:
        return f"user:{client.user}", False
    found = request.cookies.get(BROWSER_COOKIE, "")
    if _BROWSER_ID.fullmatch(found):
        return f"browser:{found}", False
    return f"browser:{secrets.token_urlsafe(18)}", True


def _remember(request: web.Request, reply: web.StreamResponse, owner: str, fresh: bool) -> None:
    if fresh:
        request.app[GATE_KEY].set_cookie(reply, BROWSER_COOKIE, owner.partition(":")[2], _YEAR)


def _key(request: web.Request) -> str:
    key = request.match_info["key"]
    if not _KEY.fullmatch(key):
        raise BadRequest(f"preference key {key[:80]!r}: use 1 to 64 of a-z 0-9 _ . - starting with a letter")
    return key


async def _value(request: web.Request) -> Any:
    body = await request.content.read(MAX_VALUE + 1)
    if len(body) > MAX_VALUE:
        raise TooLarge(f"a preference holds at most {MAX_VALUE} bytes of JSON")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("the body is not valid UTF-8") from None
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    except RecursionError:  # thousands of nested brackets: within MAX_VALUE, past the decoder's stack
        raise BadRequest("the body nests too deeply to be a preference") from None


def _save(db: sqlite3.Connection, owner: str, key: str, text: str) -> None:
    with db:
        held = dict(db.execute("SELECT key, value FROM prefs WHERE owner = ?", (owner,)).fetchall())
        if len(held) >= MAX_KEYS and key not in held:
            raise Busy(f"at most {MAX_KEYS} preferences are kept; delete one first")
        others = sum(len(value.encode()) for k, value in held.items() if k != key)  # bytes, on any backend
        if others + len(text.encode()) > MAX_BYTES:
            raise TooLarge(f"all preferences together hold at most {MAX_BYTES} bytes of JSON; delete one first")
        now = time.time()
        if not held and owner.startswith("browser:"):
            _make_room_for_a_browser(db, now)
        db.execute("INSERT INTO prefs (owner, key, value, updated) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (owner, key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
                   (owner, key, text, now))


_BROWSERS = "owner >= 'browser:' AND owner < 'browser;'"  # the primary key's range of browser owners


def _make_room_for_a_browser(db: sqlite3.Connection, now: float) -> None:
    """Forget browsers idle past their cookie's lifetime, then the least recently saved
    ones until a new browser fits under :data:`MAX_BROWSERS`."""
    idle = [row[0] for row in db.execute(
        f"SELECT owner FROM prefs WHERE {_BROWSERS} GROUP BY owner HAVING max(updated) < ?", (now - _YEAR,))]
    count = db.execute(f"SELECT count(DISTINCT owner) FROM prefs WHERE {_BROWSERS}").fetchone()[0] - len(idle)
    if count >= MAX_BROWSERS:
        idle += [row[0] for row in db.execute(
            f"SELECT owner FROM prefs WHERE {_BROWSERS} GROUP BY owner HAVING max(updated) >= ? "
            "ORDER BY max(updated), owner LIMIT ?", (now - _YEAR, count - MAX_BROWSERS + 1))]
    db.executemany("DELETE FROM prefs WHERE owner = ?", [(owner,) for owner in idle])


_KEY_PARAM = {"name": "key", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": f"^{KEY_PATTERN}$"}}
_PREFS_SCHEMA = {
    "type": "object",
    "required": ["owner", "prefs"],
    "properties": {
        "owner": {"enum": ["user", "browser"],
                  "description": "user: they follow the logged-in user; browser: open mode, this browser's"},
        "prefs": {"type": "object", "additionalProperties": True},
    },
}
_SPEC = {
    "/api/prefs": {"get": {
        "summary": "The requesting user's dashboard preferences (in open mode: this browser's)",
        "responses": {"200": {"description": "success", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Prefs"}}}}},
    }},
    "/api/prefs/{key}": {
        "put": {
            "summary": "Set one preference to the JSON value of the body",
            "parameters": [_KEY_PARAM],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
            "responses": {"200": {"description": "saved", "content": {"application/json": {"schema": {
                "type": "object", "required": ["key", "value"],
                "properties": {"key": {"type": "string"}, "value": {}}}}}},
                **error_responses(400, 409, 413)},
        },
        "delete": {
            "summary": "Forget one preference",
            "parameters": [_KEY_PARAM],
            "responses": {"204": {"description": "forgotten (or was not set)"}, **error_responses(400)},
        },
    },
}
