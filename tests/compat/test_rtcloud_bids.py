"""``bidsInterface`` as an rt-cloud script uses it: DICOM files that the scanner writes become
NIfTI volumes with their metadata and entities, a BIDS folder on disk streams volume by volume,
and an OpenNeuro dataset that is not downloaded is a one-line error."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest

from labdeck.compat.rtcloud import ClientInterface, MissingMetadataError, RequestError, ValidationError
from labdeck.compat.rtcloud.bids import BidsInterface
from labdeck.demo.dicom_series import Protocol, SeriesWriter

nib = pytest.importorskip("nibabel")


def write_scans(folder: Path, trs: range) -> None:
    """One 16x16 slice per TR, its pixels all ``10 * TR``, TR 2000 ms and a patient name,
    each written whole then renamed."""
    writer = SeriesWriter(folder / "staging", Protocol("bold", matrix=(16, 16)))
    for tr in trs:
        ds = pydicom.dcmread(writer.write())
        ds.PixelData = np.full((16, 16), 10 * tr, dtype=np.uint16).tobytes()
        ds.RepetitionTime = 2000
        ds.PatientName = "Doe^Jane"
        target = folder / "incoming" / f"001_000013_{tr:06d}.dcm"
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target.with_suffix(".part"))
        os.replace(target.with_suffix(".part"), target)


def test_dicom_files_stream_as_nifti_incrementals(tmp_path: Path) -> None:
    bids = BidsInterface(allowedDirs=[str(tmp_path)])
    (tmp_path / "incoming").mkdir()
    stream = bids.initDicomBidsStream(str(tmp_path / "incoming"), "001_000013_{TR:06d}.dcm", 0,
                                      subject="01", task="faces", run=1)
    scanner = threading.Thread(target=write_scans, args=(tmp_path, range(1, 4)))
    scanner.start()
    first = bids.getIncremental(stream, volIdx=1, timeout=10)
    second = bids.getIncremental(stream, timeout=10)  # the next one
    scanner.join(10)
    assert first is not None and second is not None
    assert isinstance(first.image, nib.Nifti1Image) and first.getImageDimensions() == (16, 16, 1)
    assert float(first.getImageData().max()) == 10 and float(second.getImageData().min()) == 20
    assert first.getEntities() == {"subject": "01", "task": "faces", "run": 1, "suffix": "bold", "datatype": "func"}
    assert first.getMetadataField("RepetitionTime") == pytest.approx(2.0)  # DICOM's 2000 ms, in seconds
    assert first.getMetadataField("TaskName") == "faces"
    assert not any("Patient" in key for key in first.getImageMetadata())
    with pytest.raises(KeyError, match="PatientName"):
        first.getMetadataField("PatientName")
    with pytest.raises(NotImplementedError):
        bids.getNumVolumes(stream)
    bids.closeStream(stream)
    with pytest.raises(ValidationError, match="no stream"):
        bids.getIncremental(stream)


def test_the_stream_refuses_folders_outside_the_allowed_ones_and_needs_its_entities(tmp_path: Path) -> None:
    bids = BidsInterface(allowedDirs=[str(tmp_path / "allowed")])
    (tmp_path / "allowed").mkdir()
    with pytest.raises(ValidationError, match="not within the allowed directories"):
        bids.initDicomBidsStream(str(tmp_path), "x_{TR:03d}.dcm", 0, subject="01", task="t")
    with pytest.raises(MissingMetadataError, match="'task'"):
        bids.initDicomBidsStream(str(tmp_path / "allowed"), "x_{TR:03d}.dcm", 0, subject="01")
    with pytest.raises(ValidationError):
        bids.initBidsStream(str(tmp_path), subject="01", task="t")


def write_bids(root: Path, volumes: int) -> None:
    func = root / "sub-01" / "ses-1" / "func"
    func.mkdir(parents=True)
    (root / "dataset_description.json").write_text('{"Name": "tiny", "BIDSVersion": "1.8.0"}')
    for run in (1, 2):
        data = np.stack([np.full((4, 4, 3), 100 * run + v, dtype=np.float32) for v in range(volumes)], axis=-1)
        name = f"sub-01_ses-1_task-faces_run-{run}_bold"
        nib.save(nib.Nifti1Image(data, np.eye(4)), func / f"{name}.nii.gz")
        (func / f"{name}.json").write_text(json.dumps({"RepetitionTime": 1.5, "TaskName": "faces"}))


def test_a_bids_folder_streams_one_run_volume_by_volume(tmp_path: Path) -> None:
    write_bids(tmp_path / "ds", volumes=3)
    bids = ClientInterface().bidsInterface  # run by hand: any local folder
    stream = bids.initBidsStream(str(tmp_path / "ds"), subject="01", task="faces", run=2)
    assert bids.getNumVolumes(stream) == 3
    values = [float(bids.getIncremental(stream).getImageData()[0, 0, 0]) for _ in range(3)]  # type: ignore[union-attr]
    assert values == [200.0, 201.0, 202.0]
    assert bids.getIncremental(stream) is None  # past the end of the run
    again = bids.getIncremental(stream, volIdx=1)
    assert again is not None and again.getImageDimensions() == (4, 4, 3)
    assert again.getMetadataField("RepetitionTime") == 1.5 and again.getMetadataField("run") == 2
    with pytest.raises(RequestError, match="2 images"):
        bids.initBidsStream(str(tmp_path / "ds"), subject="01", task="faces")  # which run?


def test_openneuro_reads_a_downloaded_dataset_and_names_the_network_otherwise(tmp_path: Path) -> None:
    bids = BidsInterface(allowedDirs=["*"], cachePath=str(tmp_path))
    with pytest.raises(RequestError, match=r"ds000102 is not in .* needs the network"):
        bids.initOpenNeuroStream("ds000102", subject="01", run=1, task="faces")
    write_bids(tmp_path / "ds000102", volumes=2)
    stream = bids.initOpenNeuroStream("ds000102", subject="01", run=1, task="faces")
    assert bids.getNumVolumes(stream) == 2
    with pytest.raises(RequestError, match="subject and run"):
        bids.initOpenNeuroStream("ds000102", subject="01")


def test_clocks() -> None:
    bids = BidsInterface(scannerClockSkew=2.0)
    now = bids.ping()
    assert bids.getClockSkew(now - 10, 0.0) == pytest.approx(12.0, abs=1.0)
