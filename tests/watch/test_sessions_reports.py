"""Session checks, the compliance report, dicompare schemas over REST and alerts, in a real
server watching a real folder: what a technologist and a lab's QA person see."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from labdeck import Deck
from labdeck.cli import main
from labdeck.demo.dicom_series import PATIENT, Protocol, SeriesWriter
from labdeck.watch import inotify
from labdeck.watch.dicom.headers import session_of
from tests.conftest import ws_url
from tests.helpers import WireClient, http_session, until

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")

CH = "dicom/AWP167046"
REST = Protocol("fmri_rest")
TASK = Protocol("fmri_task", tr=1000.0)
FMAP = Protocol("fieldmap_ap", tr=8000.0, te=(66.0,), flip=90.0)
CONFIG = """
[server]
data = "data"

[watch.scanner]
path = "scans"
kind = "dicom"

[[watch.scanner.session_checks]]
name = "fMRI geometry"
sequences = ["fmri_*", "fieldmap*"]
params = ["FoV", "Orientation"]
"""


@pytest.fixture
async def scanner(make_deck: Callable[..., Deck], tmp_path: Path) -> AsyncIterator[tuple[Deck, WireClient, Path]]:
    (tmp_path / "scans").mkdir()
    config = tmp_path / "labdeck.toml"
    config.write_text(CONFIG)
    deck = make_deck(config)
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as client:
            await client.request("sub", ch=CH)
            await until(lambda: deck.capabilities["watch"].health()["ok"], what="the watch to watch")
            yield deck, client, tmp_path / "scans"
    finally:
        await deck.stop()


def findings(client: WireClient) -> list[dict[str, Any]]:
    return [p["data"] for p in client.pushes[CH]]


async def call(deck: Deck, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with http_session(deck.url) as http, http.request(method, deck.url + path, json=body) as reply:
        text = await reply.text()
        return reply.status, json.loads(text) if reply.content_type == "application/json" else text



async def test_a_field_map_with_another_fov_than_the_fmri_runs_is_a_mismatch(
        scanner: tuple[Deck, WireClient, Path]) -> None:
    _, client, folder = scanner
    study = "1.2.3.4.5"
    runs = [REST, TASK, FMAP.changed(spacing=(2.0, 2.0)), Protocol("fmri_run2", orientation="coronal")]
    for number, proto in enumerate(runs, 1):
        SeriesWriter(folder, proto, series=number, study_uid=study).write()
    await client.wait_for(CH, 4)
    found = findings(client)
    assert [f["conforms"] for f in found] == [None, None, False, False]  # no reference yet: grey, unless at odds
    assert found[2]["errors"] == {"FoV": {"expect": [206.4, 206.4], "have": [172.0, 172.0], "session": {
        "series": 1, "sequence": "fmri_rest", "check": "fMRI geometry"}}}
    assert found[2]["messages"] == ["FoV should be 206.4 x 206.4 mm (as in series 1, fmri_rest) but is 172 x 172 mm"]
    assert found[3]["messages"] == ["Orientation should be transverse (as in series 1, fmri_rest) but is coronal"]
    assert found[2]["session"] == session_of(study)
    # another session starts afresh: its first field map sets what its runs must share
    SeriesWriter(folder, FMAP.changed(spacing=(2.0, 2.0)), series=1, study_uid="9.9.9").write()
    SeriesWriter(folder, REST, series=2, study_uid="9.9.9").write()
    await client.wait_for(CH, 6)
    assert findings(client)[4]["conforms"] is True  # the field map learned from the first session
    assert list(findings(client)[5]["errors"]) == ["FoV"]


async def test_the_compliance_report_per_project_and_session(scanner: tuple[Deck, WireClient, Path],
                                                             tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    deck, client, folder = scanner
    status, _ = await call(deck, "POST", "api/dicom/refs", {"project": "Brain^Study", "sequence": "fmri_rest",
                                                           "params": {"TR": 1300.0}})
    assert status == 200
    rest = SeriesWriter(folder, REST, series=1, study_uid="1.1")
    for proto in (REST, REST, REST.changed(tr=2000.0)):
        rest.write(proto)
    SeriesWriter(folder, Protocol("localizer"), series=2, study_uid="1.1").write()
    SeriesWriter(folder, REST, series=3, study_uid="2.2").write()
    await client.wait_for(CH, 5)
    await until(lambda: deck.capabilities["watch"].ctx.store.query_sync(
        "SELECT COUNT(*) FROM dicom_findings")[0][0] == 5, what="the findings stored")

    status, report = await call(deck, "GET", "api/dicom/report?project=Brain%5EStudy")
    assert status == 200
    (project,) = report["projects"]
    assert project["sequences"] == [
        {"sequence": "fmri_rest", "files": 4, "compliant": 3, "deviating": 1, "no_reference": 0, "share": 0.75},
        {"sequence": "localizer", "files": 1, "compliant": 0, "deviating": 0, "no_reference": 1, "share": 0.0}]
    assert [(s["session"], s["files"], s["series"]) for s in project["sessions"]] == [
        (session_of("1.1"), 4, 2), (session_of("2.2"), 1, 1)]
    (deviation,) = project["deviations"]
    assert deviation["messages"] == ["TR should be 1300 ms but is 2000 ms"]
    assert deviation["path"].endswith("MR.001.00003.dcm") and deviation["series"] == 1

    status, one = await call(deck, "GET", f"api/dicom/report?session={session_of('2.2')}")
    assert [s["files"] for s in one["projects"][0]["sequences"]] == [1]
    status, page = await call(deck, "GET", "api/dicom/report?format=html")
    assert status == 200 and "<h2>Project Brain^Study</h2>" in page and "75.0%" in page
    assert "TR should be 1300 ms but is 2000 ms" in page
    assert (await call(deck, "GET", "api/dicom/report?format=pdf"))[0] == 400
    for value in PATIENT.values():
        assert value not in page and value not in json.dumps(report)

    config = tmp_path / "labdeck.toml"
    assert main(["dicom", "report", "--config", str(config), "--json", "--project", "Brain^Study"]) == 0
    assert json.loads(capsys.readouterr().out)["projects"][0]["sequences"][0]["share"] == 0.75
    assert main(["dicom", "report", "--config", str(config), "--session", session_of("2.2")]) == 0
    assert "<h1>Compliance report</h1>" in capsys.readouterr().out


async def test_the_report_escapes_what_a_scanner_wrote(scanner: tuple[Deck, WireClient, Path]) -> None:
    deck, client, folder = scanner
    SeriesWriter(folder, Protocol("<script>alert(1)</script>"), project="<img src=x onerror=alert(1)>").write()
    await client.wait_for(CH, 1)
    await until(lambda: deck.capabilities["watch"].ctx.store.query_sync(
        "SELECT COUNT(*) FROM dicom_findings")[0][0] == 1, what="the finding stored")
    status, page = await call(deck, "GET", "api/dicom/report?format=html")
    assert status == 200 and "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page


async def test_a_schema_imported_over_rest_is_checked_and_exported_back(
        scanner: tuple[Deck, WireClient, Path]) -> None:
    deck, client, folder = scanner
    schema = {"name": "study", "acquisitions": {"resting state": {"fields": [
        {"field": "RepetitionTime", "value": 1300, "tolerance": 10},
        {"field": "MagneticFieldStrength", "value": 3, "tolerance": 0.1},
        {"field": "MultibandFactor", "value": 8}]}}}
    status, done = await call(deck, "POST", "api/dicom/refs/schema",
                              {"project": "Brain^Study", "schema": schema, "map": {"resting state": "fmri_rest"}})
    assert (status, done["pinned"]) == (200, ["fmri_rest"])
    assert done["notes"] == ["resting state: MultibandFactor: labdeck does not read this field"]
    series = SeriesWriter(folder, REST)
    series.write()
    series.write(REST.changed(tr=1400.0))
    await client.wait_for(CH, 2)
    assert [(f["conforms"], f["reference"]) for f in findings(client)] == [(True, "pinned"), (False, "pinned")]
    assert findings(client)[1]["messages"] == ["TR should be 1300 ± 10 ms but is 1400 ms"]
    status, back = await call(deck, "GET", "api/dicom/refs/schema?project=Brain%5EStudy")
    assert status == 200
    fields = back["schema"]["acquisitions"]["fmri_rest"]["fields"]
    assert {"field": "MagneticFieldStrength", "tag": "0018,0087", "value": 3, "tolerance": 0.1} in fields
    assert (await call(deck, "POST", "api/dicom/refs/schema", {"project": "p", "schema": {"x": 1}}))[0] == 400
    assert (await call(deck, "POST", "api/dicom/refs/schema", {"schema": schema}))[0] == 400
    assert (await call(deck, "GET", "api/dicom/refs/schema?project=nothing"))[0] == 400


async def test_an_alert_stays_until_an_operator_acknowledges_it(scanner: tuple[Deck, WireClient, Path]) -> None:
    deck, client, folder = scanner
    await call(deck, "POST", "api/dicom/refs", {"project": "Brain^Study", "sequence": "fmri_rest",
                                               "params": {"TR": 1300.0}})
    SeriesWriter(folder, REST.changed(tr=2000.0), series=1).write()
    SeriesWriter(folder, REST, series=2).write()  # a good series after it does not clear the alert
    await client.wait_for(CH, 2)
    state = (await call(deck, "GET", "api/stations/AWP167046"))[1]["station"]
    assert state["conforms"] is True and state["alert"]["messages"] == ["TR should be 1300 ms but is 2000 ms"]
    status, ack = await call(deck, "POST", "api/stations/AWP167046/ack")
    assert (status, ack["acknowledged"]["series"]) == (200, 1)
    assert (await call(deck, "GET", "api/stations/AWP167046"))[1]["station"]["alert"] is None
    rows = deck.capabilities["watch"].ctx.store.query_sync("SELECT station, alert FROM dicom_acks")
    assert [(r[0], json.loads(r[1])["series"]) for r in rows] == [("AWP167046", 1)]
    assert (await call(deck, "POST", "api/stations/nowhere/ack"))[0] == 404
    async with aiohttp.ClientSession() as http, http.post(deck.url + "api/stations/AWP167046/ack") as reply:
        assert reply.status == 403  # no Origin: a cross-site form cannot acknowledge


def test_refs_import_and_export_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "labdeck.toml"
    config.write_text(CONFIG)
    schema = tmp_path / "study.json"
    schema.write_text(json.dumps({"name": "s", "acquisitions": {"T1w": {"fields": [
        {"field": "RepetitionTime", "value": 2300, "tolerance": 5}, {"field": "InversionTime", "value": 900}]}}}))
    assert main(["dicom", "refs", "import", str(schema), "--config", str(config), "--project", "P",
                 "--map", "T1w=t1_mprage"]) == 0
    out = capsys.readouterr()
    assert "pinned 1 references for P: t1_mprage" in out.out
    out_file = tmp_path / "back.json"
    assert main(["dicom", "refs", "export", "--config", str(config), str(out_file)]) == 0
    back = json.loads(out_file.read_text())
    assert back["acquisitions"]["t1_mprage"]["fields"] == [
        {"field": "RepetitionTime", "tag": "0018,0080", "value": 2300, "tolerance": 5},
        {"field": "InversionTime", "tag": "0018,0082", "value": 900}]
    assert main(["dicom", "refs", "import", str(schema), "--config", str(config), "--project", "P",
                 "--map", "T2=x"]) != 0
    assert "acquisitions the schema does not have: T2" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{not json")
    assert main(["dicom", "refs", "import", str(tmp_path / "broken.json"), "--config", str(config),
                 "--project", "P"]) != 0
    assert "cannot read a JSON schema" in capsys.readouterr().err
