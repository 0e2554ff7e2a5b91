"""The server's side of remote agents: the ``agents`` object they call, with an API token.

An agent (``labdeck agent``) says :meth:`AgentsObject.hello` after each connection,
learns the newest entry of its queue the server has taken, and sends the rest with
:meth:`AgentsObject.events`; the server takes each entry once (its ``seq`` above the
stored one, in the same transaction as the file events), publishes its file events on
``files/<agent>.<watch>`` and checks its DICOM header like a local file's. A watch of
an agent is named ``<agent>.<watch>`` everywhere (REST, the report).

An agent counts as connected while it calls within :data:`CONNECTED_FOR` seconds (it
beats every :data:`BEAT` seconds). With each batch it says how many entries its queue
still holds (its backlog); a beat means the queue was empty. :meth:`AgentsObject.fetch` asks one for a file's
contents on ``agents/<agent>``; it answers in chunks (:meth:`AgentsObject.chunk`) with
the SHA-256 of the whole, or refuses (outside its roots, not a file, too large).

What an agent sends is checked like any client's input: names and paths bounded and
printable, a header decoded into :class:`~labdeck.watch.dicom.headers.Header` with only
labdeck's parameters and :data:`~labdeck.watch.dicom.headers.EXTRA_FIELDS` kept, so an
agent cannot put a patient's name on a channel either.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from labdeck.exceptions import AccessDenied, BadRequest, InvalidArguments, NotFound, Timeout
from labdeck.types import Publish
from labdeck.watch.dicom.headers import EXTRA_FIELDS, PARAMETERS, Header

if TYPE_CHECKING:
    from labdeck.store import Store
    from labdeck.watch.dicom.pipeline import DicomPipeline

__all__ = ["BEAT", "CONNECTED_FOR", "MAX_FETCH", "AgentsObject", "agent_channel"]

log = logging.getLogger("labdeck.cap.watch.agents")

BEAT = 5.0
CONNECTED_FOR = 3 * BEAT
MAX_BATCH = 500
MAX_FETCH = 256 << 20
MAX_CHUNK = 512 << 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")


def agent_channel(name: str) -> str:
    """``agents/<name>``: where the server asks an agent for files."""
    return f"agents/{name}"


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidArguments(f"{what} must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit")
    return value


def _path(value: Any) -> str:
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= 1024
        or not value.isprintable()
        or value.startswith("/")
        or ".." in value.split("/")
    ):
        raise InvalidArguments("a path must be relative, printable, at most 1024 characters, without '..'")
    return value


def _header(value: Any) -> Header:
    try:
        header = msgspec.convert(value, Header)
    except msgspec.ValidationError as exc:
        raise InvalidArguments(f"not a DICOM header: {exc}") from None
    params = {k: v for k, v in header.params.items() if k in PARAMETERS}
    extra = {k: v for k, v in header.extra.items() if k in EXTRA_FIELDS}
    return msgspec.structs.replace(header, params=params, extra=extra)


class _Fetch:
    def __init__(self) -> None:
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.parts: list[bytes] = []
        self.size = 0


class AgentsObject:
    """What agents reach as ``agents`` (operator tokens); the server's code uses the rest.

    Args:
        store: returns the open store.
        publish: the server's publish.
        pipeline: checks DICOM headers.
    """

    def __init__(self, store: Callable[[], Store], publish: Publish, pipeline: DicomPipeline) -> None:
        self._store, self._publish, self._pipeline = store, publish, pipeline
        self._beats: dict[str, float] = {}
        self._backlogs: dict[str, int] = {}
        self._watches: dict[str, dict[str, str]] = {}
        self._fetches: dict[int, _Fetch] = {}
        self._ids = itertools.count(1)

    # -- what agents call ----------------------------------------------------------

    async def hello(self, name: str, outbox: str, watches: dict[str, str]) -> dict[str, Any]:
        """An agent connected: ``{"last_seq", "channel"}``; its queue resumes after ``last_seq``."""
        name = _name(name, "the agent's name")
        if not isinstance(outbox, str) or not 0 < len(outbox) <= 64:
            raise InvalidArguments("outbox must be a name of 1 to 64 characters")
        if (
            not isinstance(watches, dict)
            or len(watches) > 64
            or not all(v in ("files", "dicom") for v in watches.values())
        ):
            raise InvalidArguments("watches must map at most 64 watch names to 'files' or 'dicom'")
        kinds = {_name(k, "a watch's name"): v for k, v in watches.items()}
        last = await self._store().run(lambda db: _hello(db, name, outbox, kinds))
        self._beats[name], self._watches[name] = time.monotonic(), kinds
        self._backlogs.pop(name, None)  # not known until its first batch or beat
        return {"last_seq": last, "channel": agent_channel(name), "beat": BEAT}

    async def beat(self, name: str) -> bool:
        """The agent is still there."""
        self._known(name)
        self._beats[name] = time.monotonic()
        self._backlogs[name] = 0
        return True

    async def bye(self, name: str) -> bool:
        """The agent stops: it shows as not connected at once."""
        self._known(name)
        self._beats.pop(name, None)
        return True

    async def events(
        self, name: str, outbox: str, rows: list[dict[str, Any]], backlog: int | None = None
    ) -> dict[str, int]:
        """Take the queue entries not taken yet: ``{"last_seq"}``, the newest taken.

        ``backlog`` is how many entries the agent's queue holds after these (optional).
        """
        watches = self._known(name)
        if not isinstance(rows, list) or len(rows) > MAX_BATCH:
            raise InvalidArguments(f"rows must be a list of at most {MAX_BATCH} entries")
        if backlog is not None and (type(backlog) is not int or backlog < 0):
            raise InvalidArguments("backlog must be a count of queue entries")
        entries = [self._entry(row, watches) for row in rows]
        taken, last = await self._store().run(lambda db: _take(db, name, outbox, entries))
        self._beats[name] = time.monotonic()
        if backlog is not None:
            self._backlogs[name] = backlog
        # taken is committed: deliver all of it even if this call is cancelled (a timeout)
        await asyncio.shield(self._deliver_all(name, watches, taken))
        return {"last_seq": last}

    async def _deliver_all(
        self, name: str, watches: dict[str, str], taken: list[tuple[int, str, dict[str, Any], Header | None]]
    ) -> None:
        for seq, watch, body, header in taken:
            try:
                await self._deliver(f"{name}.{watch}", watches[watch], body, header, seq)
            except Exception:  # one entry must not hold back the rest of the batch
                log.exception("agent %s: delivering entry %d failed", name, seq)

    async def chunk(self, name: str, fetch: int, data: str, last: bool, sha256: str = "") -> bool:
        """One part of a file the server asked for; the last carries the SHA-256 of the whole."""
        self._known(name)
        pending = self._fetches.get(fetch) if isinstance(fetch, int) else None
        if pending is None or pending.done.done():
            return False
        try:
            part = base64.b64decode(data, validate=True)
        except (ValueError, TypeError):
            pending.done.set_exception(BadRequest("the agent sent a chunk that is not base64"))
            return False
        pending.size += len(part)
        if len(part) > MAX_CHUNK or pending.size > MAX_FETCH:
            pending.done.set_exception(BadRequest(f"the file is larger than {MAX_FETCH >> 20} MB"))
            return False
        pending.parts.append(part)
        if last:
            whole = b"".join(pending.parts)
            if hashlib.sha256(whole).hexdigest() != sha256:
                pending.done.set_exception(BadRequest("the file's checksum does not match: it changed or was damaged"))
            else:
                pending.done.set_result(whole)
        return True

    async def refuse(self, name: str, fetch: int, reason: str) -> bool:
        """The agent will not send the file asked for (outside its roots, not a file...)."""
        self._known(name)
        pending = self._fetches.get(fetch) if isinstance(fetch, int) else None
        if pending is not None and not pending.done.done():
            pending.done.set_exception(AccessDenied(f"agent {name}: {str(reason)[:300]}"))
        return True

    # -- the server's own ----------------------------------------------------------

    def _known(self, name: Any) -> dict[str, str]:
        watches = self._watches.get(name) if isinstance(name, str) else None
        if watches is None:
            raise NotFound(f"agent {name!r} has not said hello on this connection's server")
        return watches

    def _entry(self, row: Any, watches: dict[str, str]) -> tuple[int, str, dict[str, Any], Header | None]:
        if not isinstance(row, dict) or not isinstance(row.get("seq"), int) or not isinstance(row.get("body"), dict):
            raise InvalidArguments("each row needs an integer seq and a body object")
        watch, body = row.get("watch"), row["body"]
        if watch not in watches:
            raise InvalidArguments(f"watch {watch!r} was not named in hello")
        size, mtime = body.get("size"), body.get("mtime")
        if not isinstance(size, int) or size < 0 or not isinstance(mtime, int | float):
            raise InvalidArguments("a file event needs a size and an mtime")
        clean: dict[str, Any] = {"path": _path(body.get("path")), "size": size, "mtime": float(mtime)}
        if isinstance(body.get("problem"), str):
            clean["problem"] = body["problem"][:300]
        header = _header(body["header"]) if body.get("header") is not None else None
        return row["seq"], str(watch), clean, header

    async def _deliver(self, watch: str, kind: str, body: dict[str, Any], header: Header | None, seq: int) -> None:
        channel = f"files/{watch}"
        self._publish(
            channel,
            {"event": "file", "watch": watch, "path": body["path"], "size": body["size"], "mtime": body["mtime"]},
        )
        if "problem" in body:
            self._publish(
                channel, {"event": "problem", "watch": watch, "path": body["path"], "reason": body["problem"]}
            )
        if header is not None and kind == "dicom":
            await self._pipeline.check(watch, body["path"], header, learn=True)

    def connected(self, name: str) -> bool:
        beat = self._beats.get(name)
        return beat is not None and time.monotonic() - beat < CONNECTED_FOR

    async def overview(self) -> list[dict[str, Any]]:
        """Every agent ever seen: name, connected, watches, last_seen, last_seq, last_file
        (``{"watch", "path", "t"}`` of the newest file it sent, or ``None``) and backlog
        (entries still in its queue, ``None`` until it says)."""
        rows = await self._store().query("SELECT name, watches, last_seen, last_seq FROM agents ORDER BY name")
        return [
            {
                "name": r[0],
                "connected": self.connected(r[0]),
                "watches": json.loads(r[1]),
                "last_seen": r[2],
                "last_seq": r[3],
                "last_file": await self._last_file(r[0], json.loads(r[1])),
                "backlog": self._backlogs.get(r[0]) if self.connected(r[0]) else None,
            }
            for r in rows
        ]

    async def _last_file(self, name: str, watches: dict[str, str]) -> dict[str, Any] | None:
        names = [f"{name}.{w}" for w in watches]
        if not names:
            return None
        marks = ", ".join("?" for _ in names)
        rows = await self._store().query(
            f"SELECT watch, path, t FROM file_events WHERE watch IN ({marks}) ORDER BY id DESC LIMIT 1", names
        )
        return {"watch": rows[0][0], "path": rows[0][1], "t": rows[0][2]} if rows else None

    async def watch_names(self) -> set[str]:
        """``<agent>.<watch>`` of every agent ever seen."""
        return {f"{a['name']}.{w}" for a in await self.overview() for w in a["watches"]}

    async def fetch(self, name: str, watch: str, path: str, timeout: float = 60.0) -> bytes:
        """Ask agent ``name`` for ``path`` in its watch ``watch``; the file's bytes, checksum checked.

        Raises:
            NotFound: the agent is not connected or has no such watch.
            AccessDenied: the agent refused (outside its roots, not a file).
            BadRequest: the contents came damaged or too large.
            Timeout: no answer within ``timeout``.
        """
        watches = self._watches.get(name)
        if watches is None or not self.connected(name):
            raise NotFound(f"agent {name!r} is not connected")
        if watch not in watches:
            raise NotFound(f"agent {name!r} has no watch {watch!r}")
        fid = next(self._ids)
        pending = self._fetches[fid] = _Fetch()
        self._publish(agent_channel(name), {"fetch": fid, "watch": watch, "path": _path(path)})
        try:
            return await asyncio.wait_for(pending.done, timeout)
        except TimeoutError:
            raise Timeout(f"agent {name!r} did not send {path!r} within {timeout:g} s") from None
        finally:
            del self._fetches[fid]
            self._publish(agent_channel(name), {"done": fid})  # what a reconnecting agent finds retained


def _hello(db: sqlite3.Connection, name: str, outbox: str, watches: dict[str, str]) -> int:
    now = time.time()
    with db:
        db.execute("BEGIN")
        row = db.execute("SELECT outbox, last_seq FROM agents WHERE name = ?", (name,)).fetchone()
        last = int(row[1]) if row is not None and row[0] == outbox else 0  # a new queue starts afresh
        db.execute(
            "INSERT INTO agents (name, outbox, last_seq, watches, first_seen, last_seen)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET outbox = excluded.outbox,"
            " last_seq = excluded.last_seq, watches = excluded.watches, last_seen = excluded.last_seen",
            (name, outbox, last, json.dumps(watches), now, now),
        )
    return last


def _take(
    db: sqlite3.Connection,
    name: str,
    outbox: str,
    entries: list[tuple[int, str, dict[str, Any], Header | None]],
) -> tuple[list[tuple[int, str, dict[str, Any], Header | None]], int]:
    now = time.time()
    with db:
        db.execute("BEGIN")
        row = db.execute("SELECT outbox, last_seq FROM agents WHERE name = ?", (name,)).fetchone()
        if row is None or row[0] != outbox:
            raise InvalidArguments("this queue has not said hello")
        last = int(row[1])
        taken = []
        for entry in sorted(entries, key=lambda e: e[0]):
            seq, watch, body, _ = entry
            if seq <= last:
                continue  # sent before, its reply lost with the connection: taken once
            db.execute(
                "INSERT OR IGNORE INTO file_events (watch, path, size, mtime_ns, t) VALUES (?, ?, ?, ?, ?)",
                (f"{name}.{watch}", body["path"], body["size"], round(body["mtime"] * 1e9), now),
            )
            taken.append(entry)
            last = seq
        db.execute("UPDATE agents SET last_seq = ?, last_seen = ? WHERE name = ?", (last, now, name))
    return taken, last
