"""DICOM headers as parameters: units and types, Siemens CSA, and every kind of bad file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from labdeck.demo.dicom_series import Protocol, SeriesWriter
from labdeck.exceptions import UnreadableFile
from labdeck.watch.dicom.csa import build_csa, parse_csa
from labdeck.watch.dicom.headers import PARAMETERS, read_header
from labdeck.watch.dicom.stations import Reference, Stations, compare, describe


def test_a_generated_siemens_file_gives_every_parameter_with_its_type(tmp_path: Path) -> None:
    proto = Protocol("bold", te=(14.6, 39.1), positive=True)
    header = read_header(SeriesWriter(tmp_path, proto, series=7).write(echo=1))
    assert (header.station, header.project, header.sequence, header.series) == ("AWP167046", "Brain^Study", "bold", 7)
    assert header.params == {
        "TR": 1300.0, "TE": [39.1], "FlipAngle": 52.0, "Matrix": [86, 86], "PixelSpacing": [2.4, 2.4],
        "SliceThickness": 2.4, "Bandwidth": 1814.0, "iPAT": 2, "PhaseEncoding": "COL+", "FoV": [206.4, 206.4],
        "SequenceName": "epfid2d1_86", "SequenceFile": "ep2d_bold",
        "Orientation": "transverse"}
    assert set(header.params) == set(PARAMETERS)


def test_pydicoms_own_mr_file_is_read_without_siemens_fields() -> None:
    header = read_header(Path(get_testdata_file("MR_small.dcm")))  # type: ignore[arg-type]
    assert header.params["TR"] == 4000.0 and header.params["TE"] == [240.0]
    assert header.params["SequenceFile"] is None and header.params["iPAT"] == 1


def test_patient_fields_are_not_even_read(tmp_path: Path) -> None:
    header = read_header(SeriesWriter(tmp_path, Protocol("t1")).write())
    assert "Doe" not in repr(header) and "SECRET" not in repr(header) and "1980" not in repr(header)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty file (0 bytes)"),
    (b"hello, I am a text file\n" * 20, "not a DICOM file"),
])
def test_bad_files_say_what_they_are(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "bad.dcm").write_bytes(content)
    with pytest.raises(UnreadableFile, match=re.escape(reason)):
        read_header(tmp_path / "bad.dcm")


def test_a_truncated_file_is_reported_as_such(tmp_path: Path) -> None:
    full = SeriesWriter(tmp_path, Protocol("t1")).write().read_bytes()
    for cut in (140, 400, 1200, 1600, len(full) // 3, len(full) - 1):
        (tmp_path / "cut.dcm").write_bytes(full[:cut])
        with pytest.raises(UnreadableFile, match=r"truncated|not a DICOM"):
            read_header(tmp_path / "cut.dcm")


def test_csa_round_trip_and_garbage_is_empty() -> None:
    tags = {"PhaseEncodingDirectionPositive": ["1"], "Empty": [], "Two": ["a", "bcdef"]}
    assert parse_csa(build_csa(tags)) == tags
    assert parse_csa(b"SV10\x04\x03\x02\x01" + b"\xff" * 40) == {}
    assert parse_csa(b"not csa") == {}
    assert parse_csa(build_csa(tags)[:50]) == {}


EXPECT = {"TR": 1300.0, "TE": [14.6, 39.1], "FlipAngle": 52.0, "Matrix": [86, 86], "PixelSpacing": [2.4, 2.4],
          "SequenceName": "epfid2d1_86", "iPAT": 2, "FoV": None}
TOL = {"TR": 1.0, "TE": 0.1, "PixelSpacing": 0.005}


def test_compare_within_tolerances_te_as_a_set_text_case_and_space_insensitive() -> None:
    have = {**EXPECT, "TR": 1300.9, "TE": [39.15], "SequenceName": " EPFID2D1_86 ", "PixelSpacing": [2.4039, 2.4],
            "FoV": [1, 2]}
    assert compare(have, EXPECT, TOL) == {}
    have = {**EXPECT, "TR": 2000.0, "TE": [20.0], "Matrix": [64, 64], "iPAT": None}
    errors = compare(have, EXPECT, TOL)
    assert errors == {"TR": {"expect": 1300.0, "have": 2000.0}, "TE": {"expect": [14.6, 39.1], "have": [20.0]},
                      "Matrix": {"expect": [86, 86], "have": [64, 64]}, "iPAT": {"expect": 2, "have": None}}
    assert describe(errors) == ["TR should be 1300 ms but is 2000 ms", "TE should be 14.6 x 39.1 ms but is 20 ms",
                                "Matrix should be 86 x 86 but is 64 x 64", "iPAT should be 2 but is missing"]


def test_every_file_is_checked_so_a_mid_series_change_is_a_finding(tmp_path: Path) -> None:
    stations = Stations(TOL)
    writer = SeriesWriter(tmp_path, Protocol("bold"))
    ref = Reference(params=read_header(writer.write()).params, source="pinned")
    findings = [stations.check(read_header(writer.write()), f"f{i}", ref) for i in range(3)]
    findings += [stations.check(read_header(writer.write(Protocol("bold", tr=2000.0))), f"g{i}", ref)
                 for i in range(2)]
    assert [f.conforms for f in findings] == [True, True, True, False, False]
    assert findings[-1].errors == {"TR": {"expect": 1300.0, "have": 2000.0}}
    state = stations.state()["stations"]["AWP167046"]
    assert (state["files"], state["bad_files"], state["conforms"]) == (5, 2, False)
    assert state["messages"] == ["TR should be 1300 ms but is 2000 ms"]
    assert stations.check(read_header(writer.write()), "h", ref).conforms is True  # back to normal...
    state = stations.state()["stations"]["AWP167046"]
    assert (state["conforms"], state["messages"]) == (False, ["TR should be 1300 ms but is 2000 ms"])  # ...not hidden


def test_no_reference_is_grey_never_green(tmp_path: Path) -> None:
    finding = Stations(TOL).check(read_header(SeriesWriter(tmp_path, Protocol("new_thing")).write()), "x", None)
    assert (finding.conforms, finding.reference, finding.errors) == (None, None, {})
