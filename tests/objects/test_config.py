"""``[objects]`` in the config file: objects exposed by ``module:attribute`` reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from labdeck import ConfigError, Deck
from labdeck.cli import main
from tests.conftest import ws_url
from tests.helpers import WireClient


def write_config(tmp_path: Path, objects: str) -> Path:
    path = tmp_path / "labdeck.toml"
    path.write_text(f'[server]\nport = 0\ndata = "data"\n\n[objects]\n{objects}\n', encoding="utf-8")
    return path


async def test_a_referenced_object_is_exposed_at_start(tmp_path: Path) -> None:
    deck = Deck(write_config(tmp_path, 'holder = "tests.objects.samples:holder"'))
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as c:
            assert await c.request("get", path=["holder"]) == {"value": 3, "items": [1, 2]}
            await c.request("set", path=["holder", "value"], value=4)
            assert await c.request("get", path=["holder", "value"]) == 4
    finally:
        await deck.stop()


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("tests.objects.samples", "is not of the form 'module:attribute'"),
        ("tests.objects.nowhere:holder", "cannot import module 'tests.objects.nowhere'"),
        ("tests.objects.samples:nothing", "module 'tests.objects.samples' has no attribute 'nothing'"),
        ("tests.objects.samples:_module_function", "private names cannot be exposed"),
        ("tests.objects.samples:Holder", "cannot expose a class as 'holder'"),
        ("os:path", "cannot expose a module as 'holder'"),
    ],
)
async def test_a_bad_reference_is_one_config_error_line(tmp_path: Path, reference: str, expected: str) -> None:
    path = write_config(tmp_path, f'holder = "{reference}"')
    deck = Deck(path)
    with pytest.raises(ConfigError) as info:
        await deck.start()
    await deck.stop()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path.resolve()}: `objects.holder`: ")
    assert expected in message


def test_the_command_line_reports_a_bad_reference_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, 'holder = "tests.objects.samples:nothing"')
    assert main(["serve", "--config", str(path), "--port", "0"]) == 2
    assert "`objects.holder`: module 'tests.objects.samples' has no attribute 'nothing'" in capsys.readouterr().err
