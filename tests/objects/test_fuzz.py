"""Random paths and ops against a rich object and a hostile one: nothing private is ever
reached or sent, every request gets a well-formed reply, and the server keeps serving."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from labdeck import Deck
from tests.conftest import ws_url
from tests.helpers import WireClient, scaled
from tests.objects.hostile import CANARY, Hostile
from tests.objects.samples import REACHED, Sample

NAMES = [
    "sample", "a", "b", "mode", "limits", "low", "settings", "gain", "label", "table", "x", "payload",
    "os", "environ", "path", "klass", "append", "fn", "test_sum", "concat", "later", "fail", "exit",
    "quick", "slow", "hold", "queued", "touched", "names", "temperature", "serial", "reset_firmware",
    "_secret", "_private", "__class__", "__dict__", "__globals__", "__func__", "__self__", "__code__",
    "__init__", "__module__", "__builtins__", "_calibration", "real", "upper", "mro", "__subclasses__",
    # the hostile object's
    "hostile", "d", "public", "nested", "items", "deep", "l1", "l2", "keyed", "env", "holder", "chain",
    "class_vars", "namespace", "CANARY", "forwarder", "environ", "getcwd", "rm", "part", "func", "gen",
    "gi_frame", "f_globals", "f_back", "worker", "start", "daemon", "measure", "live", "module", "give_env",
    "give_private", "connect", "configure", "take", "_key", "_secret", "\uff3fwide", "\uff3fsecret", "-1", "1e9",
    "LABDECK_TEST_CANARY", "__wrapped__", "__self__",
]
KNOWN_ERRORS = {
    "AccessDenied", "NotFound", "BadRequest", "InvalidArguments", "NotSerializable", "Busy", "Timeout",
    "ValueError", "SystemExit", "TypeError", "AttributeError",
}

segments = st.one_of(st.sampled_from(NAMES), st.text(max_size=12))
paths = st.one_of(
    st.builds(lambda rest: ["sample", *rest], st.lists(segments, max_size=5)),  # mostly inside the objects
    st.builds(lambda rest: ["hostile", *rest], st.lists(segments, max_size=5)),
    st.lists(segments, max_size=6),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
requests = st.one_of(
    st.builds(lambda p: {"op": "get", "path": p}, paths),
    st.builds(lambda p: {"op": "dir", "path": p}, paths),
    st.builds(lambda p: {"op": "del", "path": p}, paths),
    st.builds(lambda p, v: {"op": "set", "path": p, "value": v}, paths, json_values),
    st.builds(
        lambda p, a, k: {"op": "call", "path": p, "args": a, "kwargs": k},
        paths,
        st.lists(json_values, max_size=3),
        st.dictionaries(segments, json_values, max_size=2),
    ),
)


class Session:
    """A server in a background thread and one websocket client on a private loop."""

    def __init__(self, deck: Deck) -> None:
        self.deck = deck
        self.runner = asyncio.Runner()
        self.client = WireClient(ws_url(deck))
        self.ids = itertools.count(1)
        self.runner.run(self.client.connect())

    def send(self, request: dict[str, Any]) -> dict[str, Any]:
        rid = next(self.ids)
        return self.runner.run(self.client.reply_to_raw(json.dumps({"id": rid, **request}), rid))

    def close(self) -> None:
        self.runner.run(self.client.close())
        self.runner.close()


@pytest.fixture
def session(make_deck: Callable[..., Deck], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Session, Sample]]:
    monkeypatch.setenv("LABDECK_TEST_CANARY", CANARY)
    obj = Sample()
    obj.release.set()  # blocking methods return at once
    deck = make_deck()
    deck.expose("sample", obj)
    deck.expose("hostile", Hostile())
    deck.run_in_thread(timeout=scaled(10))
    s = Session(deck)
    REACHED.clear()
    try:
        yield s, obj
    finally:
        s.close()
        deck.shutdown()
        deck.join(scaled(10))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(requests, min_size=1, max_size=5))
def test_random_requests_never_reach_private_members(
    session: tuple[Session, Sample], batch: list[dict[str, Any]]
) -> None:
    s, _ = session
    for request in batch:
        event(f"{request['op']} -> {'ok' if (r := s.send(request))['ok'] else r['error']['type']}")
        reply = s.send(request)
        assert CANARY not in json.dumps(reply, ensure_ascii=False), reply
        if not reply["ok"]:
            error = reply["error"]
            assert error["type"] in KNOWN_ERRORS, error
            assert "Traceback" not in error["message"]
    assert REACHED == []
    assert isinstance(s.send({"op": "channels"})["result"], dict)
