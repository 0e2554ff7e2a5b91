"""DICOM watches in a real server: every file checked per station, references pinned and
learned, the stations object and REST API, and no patient data anywhere."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from labdeck import Deck
from labdeck.demo.dicom_series import PATIENT, Protocol, SeriesWriter
from labdeck.watch import inotify
from tests.conftest import ws_url
from tests.helpers import WireClient, http_session, until

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")

CH = "dicom/AWP167046"
BOLD = Protocol("bold")


@pytest.fixture
async def scanner(make_deck: Callable[..., Deck], tmp_path: Path) -> AsyncIterator[tuple[Deck, WireClient, Path]]:
    (tmp_path / "scans").mkdir()
    config = tmp_path / "labdeck.toml"
    config.write_text('[watch.scanner]\npath = "scans"\nkind = "dicom"\npatterns = ["*.dcm", "*.IMA"]\n')
    deck = make_deck(config)
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as client:
            for ch in (CH, "files/scanner"):
                await client.request("sub", ch=ch)
            await until(lambda: deck.capabilities["watch"].health()["ok"], what="the watch to watch")
            yield deck, client, tmp_path / "scans"
    finally:
        await deck.stop()


def findings(client: WireClient) -> list[dict[str, Any]]:
    return [p["data"] for p in client.pushes[CH]]


async def post(deck: Deck, body: Any) -> tuple[int, Any]:
    async with http_session(deck.url) as http, http.post(f"{deck.url}api/dicom/refs", json=body) as reply:
        return reply.status, await reply.json()


async def get(deck: Deck, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{deck.url}{path}") as reply:
        return reply.status, await reply.json()


async def test_a_tr_change_mid_series_is_caught_file_by_file(scanner: tuple[Deck, WireClient, Path]) -> None:
    deck, client, folder = scanner
    status, pinned = await post(deck, {"project": "Brain^Study", "sequence": "bold",
                                       "params": {"TR": 1300.0, "TE": [30.0], "FlipAngle": 52.0}})
    assert (status, pinned["source"]) == (200, "pinned")
    series = SeriesWriter(folder, BOLD, series=3)
    for _ in range(3):
        series.write()
    for _ in range(3):
        series.write(BOLD.changed(tr=2000.0))
    await client.wait_for(CH, 6)
    found = findings(client)
    assert [f["conforms"] for f in found] == [True, True, True, False, False, False]
    assert found[3]["errors"] == {"TR": {"expect": 1300.0, "have": 2000.0}}
    assert found[3]["messages"] == ["TR should be 1300 ms but is 2000 ms"]
    assert {k: found[3][k] for k in ("project", "sequence", "series", "reference", "file")} == {
        "project": "Brain^Study", "sequence": "bold", "series": 3, "reference": "pinned", "file": 4}
    assert found[3]["path"].endswith("MR.003.00004.dcm")
    state = await client.request("call", path=["stations", "state"])
    station = state["stations"]["AWP167046"]
    assert (station["files"], station["bad_files"], station["conforms"], station["series"]) == (6, 3, False, 3)
    assert state["units"]["TR"] == "ms"
    status, one = await get(deck, "api/stations/AWP167046")
    assert (status, one["station"]["files"]) == (200, 6)
    assert (await get(deck, "api/stations/nowhere"))[0] == 404


async def test_an_unknown_sequence_is_grey_then_learned_from_history(scanner: tuple[Deck, WireClient, Path]) -> None:
    deck, client, folder = scanner
    first = SeriesWriter(folder, Protocol("mystery"), series=1)
    first.write()
    first.write()
    await client.wait_for(CH, 2)
    assert [f["conforms"] for f in findings(client)] == [None, None]  # never green without a reference
    SeriesWriter(folder, Protocol("mystery"), series=2).write()
    SeriesWriter(folder, Protocol("mystery", flip=90.0), series=3).write()
    await client.wait_for(CH, 4)
    assert [(f["conforms"], f["reference"]) for f in findings(client)[2:]] == [(True, "learned"), (False, "learned")]
    status, refs = await get(deck, "api/dicom/refs?project=Brain%5EStudy")
    learned = refs["references"][0]
    assert (status, learned["sequence"], learned["source"], learned["count"]) == (200, "mystery", "learned", 2)


async def test_pin_the_current_series_as_reference(scanner: tuple[Deck, WireClient, Path]) -> None:
    deck, client, folder = scanner
    series = SeriesWriter(folder, Protocol("t1", tr=2300.0), series=1)
    series.write()
    await client.wait_for(CH, 1)
    status, pinned = await post(deck, {"station": "AWP167046"})
    assert (status, pinned["params"]["TR"], pinned["sequence"]) == (200, 2300.0, "t1")
    series.write()
    await client.wait_for(CH, 2)
    assert (findings(client)[1]["conforms"], findings(client)[1]["reference"]) == (True, "pinned")
    assert (await post(deck, {"station": "nowhere"}))[0] == 404
    assert (await post(deck, {"project": "p"}))[0] == 400
    assert (await post(deck, [1, 2]))[0] == 400
    async with http_session(deck.url) as http:
        url = f"{deck.url}api/dicom/refs?project=Brain%5EStudy&sequence=t1"
        async with http.delete(url) as reply:
            assert reply.status == 200
        async with http.delete(url) as reply:
            assert reply.status == 404


async def test_bad_files_are_reported_and_the_watch_goes_on(scanner: tuple[Deck, WireClient, Path]) -> None:
    _, client, folder = scanner
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "notes.dcm").write_text("not an image\n" * 50)
    good = SeriesWriter(folder, BOLD).write()
    (folder / "cut.dcm").write_bytes(good.read_bytes()[:900])
    SeriesWriter(folder, BOLD, series=2).write()
    await client.wait_for(CH, 2)
    await until(lambda: len([p for p in client.pushes["files/scanner"] if p["data"]["event"] == "problem"]) == 3,
                what=str(client.pushes["files/scanner"]))
    problems = {p["data"]["path"]: p["data"]["reason"] for p in client.pushes["files/scanner"]
                if p["data"]["event"] == "problem"}
    assert problems["empty.dcm"] == "empty file (0 bytes)"
    assert problems["notes.dcm"] == "not a DICOM file"
    assert problems["cut.dcm"].startswith("truncated")


async def test_no_patient_field_reaches_a_channel_the_api_or_the_log(
        scanner: tuple[Deck, WireClient, Path], caplog: pytest.LogCaptureFixture) -> None:
    deck, client, folder = scanner
    caplog.set_level(logging.DEBUG)
    series = SeriesWriter(folder, BOLD)
    for _ in range(3):
        series.write()
    (folder / "bad.dcm").write_bytes(b"x")
    await client.wait_for(CH, 3)
    await post(deck, {"station": "AWP167046"})
    seen = [json.dumps(client.frames), caplog.text]
    for path in ("api/stations", "api/stations/AWP167046", "api/dicom/refs", "api/files/scanner", "healthz"):
        seen.append(json.dumps((await get(deck, path))[1]))
    seen.append(json.dumps(await client.request("call", path=["stations", "state"])))
    text = "\n".join(seen)
    for value in PATIENT.values():
        assert value not in text
    assert "Doe" not in text and "SECRET" not in text


def test_dicom_import_learns_references_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from labdeck.cli import main
    from labdeck.store import Store

    past = tmp_path / "past"
    for n in range(3):
        series = SeriesWriter(past, BOLD, series=n + 1)
        series.write()
        series.write()
    SeriesWriter(past, BOLD.changed(tr=2000.0), series=9).write()
    (past / "README.txt").write_text("not dicom")
    config = tmp_path / "labdeck.toml"
    config.write_text('[server]\ndata = "data"\n')
    assert main(["dicom", "import", "--config", str(config), str(past)]) == 0
    out = capsys.readouterr()
    assert "imported 7 files (0 already imported, 1 not DICOM or unreadable)" in out.out
    assert "8/8 files" in out.err
    assert main(["dicom", "import", "--config", str(config), str(past)]) == 0
    assert "imported 0 files (8 already imported" in capsys.readouterr().out
    store = Store(tmp_path / "data" / "labdeck.sqlite")
    try:
        rows = store.query_sync("SELECT count, json_extract(params, '$.TR') FROM dicom_history ORDER BY count DESC")
    finally:
        store.close()
    assert [tuple(r) for r in rows] == [(3, 1300.0), (1, 2000.0)]
