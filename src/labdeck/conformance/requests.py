"""Conformance checks of requests and replies: ids, refused frames, errors, limits, and
the upgrade's Host and Origin rules."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import msgspec

from labdeck.conformance.target import Skipped, Target, alive, check, expect, expect_error, refused, until
from labdeck.protocol import wire

__all__: list[str] = []


@check("reply.ids", "every reply echoes its request's id exactly: integers within ±(2^53-1), strings")
async def _ids_echoed(t: Target) -> None:
    async with t.client() as c:
        for rid in (7, 0, -3, wire.MAX_ID, -wire.MAX_ID, "a-string id", "x" * wire.MAX_ID_LENGTH):
            reply = await c.expect(rid, json.dumps({"id": rid, "op": "channels", "limit": 1}))
            expect(reply.ok, f"id {rid!r}: {reply.error}")
            expect(reply.id == rid and type(reply.id) is type(rid), f"sent id {rid!r}, the reply has {reply.id!r}")


@check("reply.one_each", "every request gets exactly one reply; replies are matched by id")
async def _one_reply_each(t: Target) -> None:
    async with t.client() as c:
        ids = [f"burst-{i}" for i in range(50)]
        replies = await asyncio.gather(
            *(c.expect(rid, json.dumps({"id": rid, "op": "channels", "limit": 1})) for rid in ids)
        )
        expect([r.id for r in replies] == ids, "a reply carried another request's id")
        await asyncio.sleep(0.05)
        expect(not c.unmatched, f"replies no request asked for: {list(c.unmatched)[:3]}")


@check(
    "reply.id_range",
    "an id beyond ±(2^53-1), a float, a boolean or a string over 128 characters is "
    "refused (BadRequest, id null), never echoed rounded",
)
async def _ids_out_of_range(t: Target) -> None:
    async with t.client() as c:
        for rid in (wire.MAX_ID + 1, -(wire.MAX_ID + 1), 10**30, 1.5, True, "x" * (wire.MAX_ID_LENGTH + 1)):
            await refused(c, "BadRequest", msgspec.json.encode({"id": rid, "op": "channels"}), None)


@check("reply.duplicate_id", "a request reusing the id of one in flight gets DuplicateId with id null; the first "
                              "still gets its own reply, and the id is free once answered")
async def _duplicate_id(t: Target) -> None:
    if t.slow_call is None:
        raise Skipped("needs --slow-call PATH, an exposed method that takes a while")
    path = t.slow_call.split(".")
    async with t.client() as c:
        first = asyncio.ensure_future(c.expect("dup", json.dumps({"id": "dup", "op": "call", "path": path})))
        await asyncio.sleep(0.05)  # the call is under way on the server
        await refused(c, "DuplicateId", json.dumps({"id": "dup", "op": "channels", "limit": 1}), None)
        assert c.unmatched[-1].error is not None
        expect("'dup'" in c.unmatched[-1].error.message, f"the message must name the id: {c.unmatched[-1].error}")
        reply = await first
        expect(reply.id == "dup" and reply.ok, f"the first request's own reply: {reply}")
        again = await c.expect("dup", json.dumps({"id": "dup", "op": "channels", "limit": 1}))
        expect(again.ok, f"an answered id is free again: {again}")


@check("limit.in_flight", "past max_in_flight unanswered requests, a call gets TooManyInFlight with its id and is "
                          "not run; the others get their own replies and the connection keeps serving")
async def _in_flight_cap(t: Target) -> None:
    if t.slow_call is None:
        raise Skipped("needs --slow-call PATH, an exposed method that takes a while")
    path = t.slow_call.split(".")
    async with t.client() as c:
        ids = [f"held-{i}" for i in range(t.max_in_flight)]
        held = [asyncio.ensure_future(c.expect(rid, json.dumps({"id": rid, "op": "call", "path": path}),
                                               timeout=t.timeout * 5)) for rid in ids]
        await until(lambda: c.in_flight == len(ids), t.timeout, "the held calls sent")
        await refused(c, "TooManyInFlight", json.dumps({"id": "past-cap", "op": "call", "path": path}), "past-cap")
        replies = await asyncio.gather(*held)
        failed = [r for r in replies if not r.ok]
        expect(not failed, f"a call under the cap failed: {failed[:1]}")
        expect([r.id for r in replies] == ids, "a held call got another request's reply")
        again = await c.expect("past-cap", json.dumps({"id": "past-cap", "op": "dir", "path": []}))
        expect(again.ok, f"once answered, the cap has room again: {again}")


@check("reply.unreadable", "a frame that is not JSON, not an object or has no id gets BadRequest with id null")
async def _unreadable(t: Target) -> None:
    async with t.client() as c:
        for frame in ("{", "[1, 2]", '"sub"', '{"op": "channels"}', '{"id": null, "op": "channels"}'):
            await refused(c, "BadRequest", frame, None)


@check("reply.unknown_op", "an op that is missing, not a string or not one of the nine names is UnknownOp")
async def _unknown_op(t: Target) -> None:
    async with t.client() as c:
        for op in ('"nope"', "5", "null", '"SUB"'):
            await refused(c, "UnknownOp", f'{{"id": 1, "op": {op}}}', 1)
        await refused(c, "UnknownOp", '{"id": 2}', 2)


@check("reply.strict_fields", "a field the op does not define, or of the wrong type, is BadRequest with the id")
async def _strict_fields(t: Target) -> None:
    ch = json.dumps(t.ch("strict"))
    async with t.client() as c:
        await refused(c, "BadRequest", f'{{"id": 1, "op": "sub", "ch": {ch}, "sincee": 0}}', 1)
        await refused(c, "BadRequest", f'{{"id": 2, "op": "sub", "ch": {ch}, "since": "0"}}', 2)
        await refused(c, "BadRequest", f'{{"id": 3, "op": "sub", "ch": {ch}, "since": -1}}', 3)
        await refused(c, "BadRequest", '{"id": 4, "op": "set", "path": ["x", "y"]}', 4)
        await refused(c, "BadRequest", '{"id": 5, "op": "get", "path": "x.y"}', 5)


@check("reply.binary", "a binary frame gets BadRequest with id null; the connection stays open")
async def _binary_frame(t: Target) -> None:
    async with t.client() as c:
        before = len(c.unmatched)
        assert c._ws is not None
        await c._ws.send_bytes(b'{"id": 1, "op": "channels"}')
        await until(lambda: len(c.unmatched) > before, t.timeout, "the reply to a binary frame")
        expect_error(c.unmatched[before], "BadRequest", None)
        await alive(c)


@check("reply.utf8", "invalid UTF-8, pub data included, is BadRequest; nothing is published")
async def _invalid_utf8(t: Target) -> None:
    ch = t.ch("utf8")
    async with t.client() as c:
        frame = b'{"id": 1, "op": "pub", "ch": "%s", "data": "\xff\xfe"}' % ch.encode()
        await refused(c, "BadRequest", frame, 1)
        expect(ch not in await c.channels(prefix=ch), "the refused pub created its channel")


@check("reply.depth", "a frame nesting deeper than the server's max_depth (64) is BadRequest")
async def _too_deep(t: Target) -> None:
    async with t.client() as c:
        data = "[" * 64 + "]" * 64
        await refused(c, "BadRequest", f'{{"id": 1, "op": "pub", "ch": "{t.ch("deep")}", "data": {data}}}', 1)


@check("error.reserved", "pub on hub/, run/, files/, dicom/, rigs/ or obj/ is AccessDenied")
async def _reserved(t: Target) -> None:
    async with t.client() as c:
        for ch in ("hub/x", "run/log", "files/x", "dicom/x", "rigs/x", "obj/x/y"):
            rid = c.next_id()
            await refused(c, "AccessDenied", json.dumps({"id": rid, "op": "pub", "ch": ch, "data": 1}), rid)


@check("error.channel_names", "a channel name is 1 to 200 printable characters in non-empty '/' segments")
async def _channel_names(t: Target) -> None:
    bad = ["", "a//b", "/a", "a/", "a\x00b", "a\tb", "a\u00a0b", "a\u200bb", "a\u2028b", "x" * 201]
    good = ["a b", "ünï/cödé", "x" * 200, "MRC35343", "a-b_c.d:e"]
    async with t.client() as c:
        for name in bad:
            rid = c.next_id()
            await refused(c, "BadRequest", json.dumps({"id": rid, "op": "sub", "ch": name}), rid)
        for name in good:
            sub = await c.subscribe(name)
            await sub.close()


@check("error.not_found", "get, set, del, call and dir of an object nobody exposed are NotFound")
async def _not_found(t: Target) -> None:
    path = ["no_such_object_anywhere", "x"]
    async with t.client() as c:
        for op, extra in (("get", {}), ("set", {"value": 1}), ("del", {}), ("call", {}), ("dir", {})):
            rid = c.next_id()
            reply = await c.expect(rid, json.dumps({"id": rid, "op": op, "path": path, **extra}))
            expect_error(reply, "NotFound", rid)


@check("limit.channels", "channels takes limit 1 to 10000; a cut page says truncated; after pages on")
async def _channels_paging(t: Target) -> None:
    async with t.client() as c:
        for limit in (0, 10_001):
            rid = c.next_id()
            await refused(c, "BadRequest", json.dumps({"id": rid, "op": "channels", "limit": limit}), rid)
        names = [t.ch(f"page/{i}") for i in range(3)]
        for name in names:
            await c.pub(name, 0)
        rid = c.next_id()
        reply = await c.expect(rid, json.dumps({"id": rid, "op": "channels", "prefix": t.ch("page/"), "limit": 2}))
        expect(reply.ok and reply.truncated, f"a page cut at limit 2 of 3 must say truncated: {reply}")
        expect(list(reply.result) == names[:2], f"not the first two names in order: {reply.result}")
        rest = await c.channels(prefix=t.ch("page/"), after=names[1])
        expect(list(rest) == names[2:], f"after {names[1]!r} should leave {names[2:]}, got {list(rest)}")


@check("dir.root", "dir of [] lists the exposed objects: {path: [], kind: space, members: [{name, kind, type}]}")
async def _dir_root(t: Target) -> None:
    async with t.client() as c:
        found = await c.dir([])
        expect(
            isinstance(found, dict) and found.get("path") == [] and found.get("kind") == "space",
            f"not the documented shape: {found!r:.200}",
        )
        for member in found["members"]:
            expect({"name", "kind", "type"} <= member.keys(), f"member without name, kind, type: {member}")


@check(
    "upgrade.origin",
    "an upgrade with a foreign Origin is 403; the server's own (or, on a loopback Host, "
    "any loopback name of the same port) and none at all are accepted",
)
async def _origin(t: Target) -> None:
    parts = urlsplit(t.url())
    scheme = "https" if parts.scheme == "wss" else "http"
    own = f"{scheme}://{parts.netloc}"
    cases = [("http://evil.example", 403), (own, 101), (None, 101)]
    if parts.hostname in ("127.0.0.1", "localhost"):
        alias = "localhost" if parts.hostname == "127.0.0.1" else "127.0.0.1"
        cases.append((f"{scheme}://{alias}:{parts.port}", 101))
        cases.append((f"{scheme}://{parts.hostname}:{(parts.port or 80) + 1}", 403))
    for value, status in cases:
        up = await t.upgrade(headers={"Origin": value} if value else {})
        up.socket.close()
        expect(up.status == status, f"Origin {value!r}: expected {status}, got {up.status}")


@check("upgrade.host", "an upgrade whose Host the server does not answer to is refused with 421")
async def _host(t: Target) -> None:
    up = await t.upgrade(host="rebound.example")
    up.socket.close()
    expect(up.status == 421, f"Host rebound.example: expected 421, got {up.status}")
