"""References as dicompare JSON schemas, checked against dicompare itself (from PyPI):
on the same generated series and the same schema, labdeck's verdict and the fields it
flags are dicompare's, whichever of the two wrote the schema.

dicompare pins pydicom < 3 and labdeck needs pydicom 3, so dicompare runs in its own
virtualenv (``.venv-dicompare``, made by ``./dev.sh setup`` from
``tests/watch/dicompare-requirements.txt``; or ``LABDECK_DICOMPARE_PYTHON``), driven by
``dicompare_driver.py`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from labdeck.demo.dicom_series import Protocol, SeriesWriter
from labdeck.exceptions import BadRequest
from labdeck.store import Store
from labdeck.watch.cli import export_refs, import_refs
from labdeck.watch.config import DEFAULT_TOLERANCES
from labdeck.watch.dicom import protocols
from labdeck.watch.dicom.headers import EXTRA_FIELDS, read_header
from labdeck.watch.dicom.schema import FIELD_OF, import_schema
from labdeck.watch.dicom.stations import Stations
from tests.helpers import scaled

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("dicompare_driver.py")


def _python() -> Path | None:
    given = os.environ.get("LABDECK_DICOMPARE_PYTHON")
    found = Path(given) if given else ROOT / ".venv-dicompare" / "bin" / "python"
    return found if found.exists() else None


PYTHON = _python()
needs_dicompare = pytest.mark.skipif(PYTHON is None, reason="dicompare's virtualenv is missing: ./dev.sh setup")

BOLD = Protocol("bold")
SERIES: dict[str, list[Protocol]] = {
    "conforming": [BOLD, BOLD, BOLD],
    "tr_changes_midway": [BOLD, BOLD, BOLD.changed(tr=2000.0)],
    "flip_within_tolerance": [BOLD.changed(flip=52.3)] * 2,
    "other_phase_direction": [BOLD.changed(phase="ROW")] * 2,
    "finer_pixels": [BOLD.changed(spacing=(2.0, 2.0))] * 2,
    "other_te": [BOLD.changed(te=(35.0,))] * 2,
}


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One folder per series of :data:`SERIES`, the files of each as the scanner writes them."""
    root = tmp_path_factory.mktemp("series")
    folders = {}
    for number, (name, files) in enumerate(SERIES.items(), 1):
        writer = SeriesWriter(root / name, BOLD, series=number)
        for proto in files:
            writer.write(proto)
        folders[name] = root / name
    return folders


def dicompare(*args: str | Path) -> Any:
    assert PYTHON is not None
    done = subprocess.run(
        [str(PYTHON), str(DRIVER), *map(str, args)], capture_output=True, text=True, timeout=scaled(120), check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def dicompare_verdicts(
    schema: dict[str, Any], acquisition: str, folders: dict[str, Path], tmp_path: Path
) -> dict[str, list[str]]:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    found = dicompare("check", path, acquisition, *folders.values())["verdicts"]
    return {name: found[str(folder)] for name, folder in folders.items()}


def labdeck_verdicts(db: sqlite3.Connection, folders: dict[str, Path]) -> dict[str, list[str]]:
    """The fields labdeck flags in each series, every file checked, named as dicompare names them."""
    found = {}
    for name, folder in folders.items():
        stations, failed = Stations(DEFAULT_TOLERANCES), set()
        for path in sorted(folder.rglob("*.dcm")):
            header = read_header(path, EXTRA_FIELDS)
            reference = protocols.reference(db, header.project, header.sequence, header.description)
            assert reference is not None
            failed |= set(stations.check(header, path.name, reference).errors)
        found[name] = sorted(FIELD_OF.get(p, p) for p in failed)
    return found


@pytest.fixture
def db(tmp_path: Path) -> Any:
    store = Store(tmp_path / "labdeck.sqlite")
    try:
        yield store
    finally:
        store.close()


@needs_dicompare
def test_a_reference_labdeck_exports_gets_dicomparess_verdict(
    series: dict[str, Path], db: Store, tmp_path: Path
) -> None:
    header = read_header(next(series["conforming"].rglob("*.dcm")))
    db.run_sync(lambda c: protocols.pin(c, header.project, "bold", header.params, "tester"))
    schema, notes = db.run_sync(lambda c: export_refs(c, None, dict(DEFAULT_TOLERANCES)))
    assert list(schema["acquisitions"]) == ["bold"]
    fields = {f["field"]: f for f in schema["acquisitions"]["bold"]["fields"]}
    assert fields["RepetitionTime"] == {
        "field": "RepetitionTime",
        "tag": "0018,0080",
        "value": 1300.0,
        "tolerance": 1.0,
    }
    assert fields["InPlanePhaseEncodingDirection"]["value"] == "COL"  # DICOM's, without the CSA sign
    assert {n.split(": ")[1].split(" ")[0] for n in notes} == {"Matrix", "iPAT", "FoV", "SequenceFile", "Orientation"}

    ours = db.run_sync(lambda c: labdeck_verdicts(c, series))
    theirs = dicompare_verdicts(schema, "bold", series, tmp_path)
    assert {name: [f for f in found if f in fields] for name, found in ours.items()} == theirs
    assert ours["finer_pixels"] == ["FoV", "PixelSpacing"]  # FoV: labdeck's own, no dicompare field states it
    assert ours["conforming"] == ours["flip_within_tolerance"] == []
    assert ours["tr_changes_midway"] == ["RepetitionTime"]
    assert ours["other_phase_direction"] == ["InPlanePhaseEncodingDirection"]
    assert ours["other_te"] == ["EchoTime"]


@needs_dicompare
def test_a_schema_dicompare_builds_gets_the_same_verdict_from_labdeck(
    series: dict[str, Path], db: Store, tmp_path: Path
) -> None:
    schema = dicompare("build", series["conforming"])
    (acquisition,) = schema["acquisitions"]  # dicompare names it after the protocol: acq-bold
    pinned, notes = db.run_sync(lambda c: import_refs(c, "Brain^Study", schema, {acquisition: "bold"}, "tester"))
    assert pinned == ["bold"]
    assert not [n for n in notes if "does not read" in n], notes

    ours = db.run_sync(lambda c: labdeck_verdicts(c, series))
    theirs = dicompare_verdicts(schema, acquisition, series, tmp_path)
    assert ours == theirs
    assert ours["conforming"] == []
    assert ours["flip_within_tolerance"] == ["FlipAngle"]  # dicompare's build states exact values
    assert "RepetitionTime" in ours["tr_changes_midway"]


CONSTRAINED = {
    "name": "A published protocol",
    "acquisitions": {
        "bold": {
            "fields": [
                {"field": "RepetitionTime", "tag": "0018,0080", "value": 1300, "tolerance": 5},
                {"field": "FlipAngle", "tag": "0018,1314", "min": 50, "max": 55},
                {"field": "EchoTime", "tag": "0018,0081", "value": 30, "tolerance": 1},
                {"field": "PixelSpacing", "tag": "0028,0030", "value": [2.4, 2.4], "tolerance": 0.05},
                {"field": "MRAcquisitionType", "tag": "0018,0023", "value": "2D"},
                {"field": "MagneticFieldStrength", "tag": "0018,0087", "value": 3, "tolerance": 0.1},
                {"field": "ImageType", "tag": "0008,0008", "contains_all": ["ORIGINAL", "PRIMARY"]},
                {"field": "InPlanePhaseEncodingDirection", "tag": "0018,1312", "contains_any": ["COL"]},
                {"field": "SequenceName", "tag": "0018,0024", "contains": "epfid"},
                {"field": "SliceThickness", "tag": "0018,0050", "value": 3.0, "severity": "warning"},
                {"field": "AcquisitionMatrix", "tag": "0018,1310", "value": [0, 86, 86, 0]},
            ],
            "series": [],
            "rules": [],
        }
    },
}


@needs_dicompare
def test_every_kind_of_constraint_gets_dicomparess_verdict(series: dict[str, Path], db: Store, tmp_path: Path) -> None:
    pinned, notes = db.run_sync(lambda c: import_refs(c, "Brain^Study", CONSTRAINED, {}, "tester"))
    assert pinned == ["bold"]
    assert any("SliceThickness: a warning-severity field" in n for n in notes)
    ours = db.run_sync(lambda c: labdeck_verdicts(c, series))
    assert ours == dicompare_verdicts(CONSTRAINED, "bold", series, tmp_path)
    assert ours["tr_changes_midway"] == ["RepetitionTime"]
    assert ours["other_phase_direction"] == ["InPlanePhaseEncodingDirection"]
    assert ours["other_te"] == ["EchoTime"]
    assert ours["conforming"] == ours["flip_within_tolerance"] == []


@needs_dicompare
def test_the_bundled_hcp_schema_imports_and_says_what_it_leaves_out() -> None:
    found, _ = import_schema(dicompare("bundled", "hcp_schema.json"))
    assert len(found) == 12
    rest = next(f for f in found if f.acquisition == "Resting-State fMRI")
    assert rest.params["TR"] == {"value": 720, "tolerance": 10}
    assert rest.params["MagneticFieldStrength"] == {"value": 3, "tolerance": 0.1}
    assert rest.left_out == ["MultibandFactor: labdeck does not read this field"]


@pytest.mark.parametrize(
    "schema",
    [
        None,
        [],
        {"acquisitions": []},
        {"acquisitions": {"a": 3}},
        {"acquisitions": {"a": {"fields": [{"value": 1}]}}},
        {"acquisitions": {"a": {"fields": "RepetitionTime"}}},
    ],
)
def test_what_is_not_a_schema_is_refused_clearly(schema: Any) -> None:
    with pytest.raises(BadRequest, match="not a dicompare schema"):
        import_schema(schema)


def test_a_mapping_to_an_acquisition_the_schema_lacks_is_refused() -> None:
    with pytest.raises(BadRequest, match="acquisitions the schema does not have: T2"):
        import_schema(CONSTRAINED, {"T2": "t2_space"})


def test_rules_are_never_run_and_said_so() -> None:
    schema = {
        "acquisitions": {
            "bold": {
                "fields": [{"field": "FlipAngle", "value": 52}],
                "rules": [{"id": "r1", "implementation": "import os; os.remove('x')"}],
            }
        }
    }
    (found,), _ = import_schema(schema)
    assert found.params == {"FlipAngle": {"value": 52}}
    assert found.left_out == ["rule r1: not run (labdeck never runs a schema's code)"]
