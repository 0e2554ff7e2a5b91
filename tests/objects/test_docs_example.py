"""The how-to's example runs as written, and behaves as the page says."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from labdeck import Deck
from tests.helpers import RequestFailed, WireClient

HOWTO = Path(__file__).resolve().parents[2] / "docs" / "howto" / "expose-objects.md"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The page's first Python block, run as a module (not as ``__main__``)."""
    code = re.search(r"```python\n(.*?)```", HOWTO.read_text(encoding="utf-8"), re.S)
    assert code is not None
    module = types.ModuleType("expose_objects_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code.group(1), str(HOWTO), "exec"), module.__dict__)
    return module.__dict__


async def test_the_example_works_as_described(deck: Deck, client: WireClient, example: dict[str, Any]) -> None:
    ns = example
    laser = ns["Laser"]()
    deck.expose("stimulus", ns["Stimulus"]())
    deck.expose("laser", laser, ns["labdeck"].Policy(read_only=["serial_number"]))
    assert await client.request("call", path=["laser", "test_sum"], args=[4, 5]) == 9
    assert await client.request("call", path=["laser", "status"]) == {"temperature": 21.0, "power_mw": 5.0}
    assert await client.request("call", path=["laser", "calibrate"]) == "calibrated"
    assert await client.request("call", path=["laser", "measure"], kwargs={"samples": 2}) == [21.0, 21.0]
    assert await client.request("get", path=["stimulus", "contrast"]) == 0.5
    await client.request("sub", ch="obj/laser/temperature")
    laser.temperature = 22.5
    pushes = await client.wait_for("obj/laser/temperature", 2)
    assert pushes[-1]["data"] == 22.5
    for op, path, fields, error in [
        ("call", ["laser", "factory_reset"], {}, "AccessDenied"),
        ("get", ["laser", "_port"], {}, "AccessDenied"),
        ("set", ["laser", "serial_number"], {"value": "x"}, "AccessDenied"),
        ("call", ["laser", "test_sum"], {"args": ["4", 5]}, "InvalidArguments"),
    ]:
        with pytest.raises(RequestFailed) as info:
            await client.request(op, path=path, **fields)
        assert info.value.type == error
