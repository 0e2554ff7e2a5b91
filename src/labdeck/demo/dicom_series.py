"""Realistic MR DICOM files, generated with pydicom: what the simulated scanner writes.

Each file carries what a Siemens scanner's would: station, study, protocol, series,
the acquisition parameters, Siemens CSA image and series headers and the (0051) MR
header, a small pixel matrix, and patient fields (a made-up name, ID and birth date)
so that tests can prove those never leave the server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["PATIENT", "Protocol", "SeriesWriter", "write_dicom"]

PATIENT = {"PatientName": "Doe^Jane^Q", "PatientID": "PID-0042-SECRET", "PatientBirthDate": "19800101",
           "PatientAddress": "1 Secret Lane", "OtherPatientIDs": "MRN-99-SECRET"}
"""The made-up patient every generated file belongs to."""


@dataclass(frozen=True)
class Protocol:
    """An acquisition protocol, in the units of :data:`labdeck.watch.dicom.headers.UNITS`."""

    name: str
    tr: float = 1300.0
    te: tuple[float, ...] = (30.0,)
    flip: float = 52.0
    matrix: tuple[int, int] = (86, 86)
    spacing: tuple[float, float] = (2.4, 2.4)
    slice_thickness: float = 2.4
    bandwidth: float = 1814.0
    ipat: int = 2
    phase: str = "COL"
    positive: bool = False
    sequence_name: str = "epfid2d1_86"
    sequence_file: str = "ep2d_bold"
    orientation: str = "transverse"
    """The slice plane: ``transverse``, ``coronal`` or ``sagittal``."""

    def changed(self, **what: Any) -> Protocol:
        return replace(self, **what)


@dataclass
class SeriesWriter:
    """Writes the files of one series, one :meth:`write` per file (one per echo and slice)."""

    folder: Path
    protocol: Protocol
    station: str = "AWP167046"
    project: str = "Brain^Study"
    series: int = 1
    description: str | None = None
    study_uid: str = ""
    series_uid: str = field(default="")
    written: int = 0

    def __post_init__(self) -> None:
        from pydicom.uid import generate_uid

        self.series_uid = self.series_uid or generate_uid()
        self.study_uid = self.study_uid or generate_uid()

    def write(self, protocol: Protocol | None = None, echo: int = 0) -> Path:
        """Write the next file (with ``protocol`` if it changed mid-series); returns its path."""
        self.written += 1
        proto = protocol or self.protocol
        path = self.folder / f"{self.series:03}_{proto.name}" / f"MR.{self.series:03}.{self.written:05}.dcm"
        write_dicom(path, proto, station=self.station, project=self.project, series=self.series,
                    series_uid=self.series_uid, study_uid=self.study_uid, instance=self.written,
                    te=proto.te[echo % len(proto.te)], description=self.description or proto.name)
        return path


_ORIENTATIONS = {"transverse": [1, 0, 0, 0, 1, 0], "coronal": [1, 0, 0, 0, 0, -1], "sagittal": [0, 1, 0, 0, 0, -1]}


def _csa(image: dict[str, list[str]] | None = None, series: dict[str, list[str]] | None = None) -> tuple[bytes, bytes]:
    from labdeck.watch.dicom.csa import build_csa

    return build_csa(image or {}), build_csa(series or {})


def _phoenix(proto: Protocol) -> str:
    """The line of the ASCII protocol that names the sequence file."""
    return f'tSequenceFileName\t = \t""%SiemensSeq%\\{proto.sequence_file}""'


def write_dicom(path: Path, proto: Protocol, *, station: str, project: str, series: int, series_uid: str,
                study_uid: str, instance: int, te: float, description: str) -> None:
    """Write one MR image file to ``path`` (its folder is created)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MRImageStorage, uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality, ds.Manufacturer = MRImageStorage, uid, "MR", "SIEMENS"
    for key, value in PATIENT.items():
        setattr(ds, key, value)
    ds.StationName, ds.StudyDescription, ds.SeriesDescription, ds.ProtocolName = station, project, description, \
        proto.name
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = study_uid, series_uid, series, \
        instance
    ds.RepetitionTime, ds.EchoTime, ds.FlipAngle = proto.tr, te, proto.flip
    ds.AcquisitionMatrix = [0, proto.matrix[0], proto.matrix[1], 0]
    ds.Rows, ds.Columns = proto.matrix
    ds.PixelSpacing, ds.SliceThickness, ds.PixelBandwidth = list(proto.spacing), proto.slice_thickness, \
        proto.bandwidth
    ds.InPlanePhaseEncodingDirection, ds.SequenceName = proto.phase, proto.sequence_name
    ds.ImageOrientationPatient = _ORIENTATIONS[proto.orientation]
    ds.MRAcquisitionType, ds.MagneticFieldStrength, ds.ScanningSequence = "2D", 3.0, "EP"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.BitsAllocated, ds.BitsStored, ds.HighBit = \
        1, "MONOCHROME2", 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(proto.matrix[0] * proto.matrix[1] * 2)
    image, series_csa = _csa({"PhaseEncodingDirectionPositive": ["1" if proto.positive else "0"],
                              "BandwidthPerPixelPhaseEncode": [f"{proto.bandwidth / 100:.3f}"]},
                             {"MrPhoenixProtocol": [_phoenix(proto)]})
    csa = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    csa.add_new(0x10, "OB", image)
    csa.add_new(0x20, "OB", series_csa)
    mr = ds.private_block(0x0051, "SIEMENS MR HEADER", create=True)
    mr.add_new(0x0C, "LO", f"FoV {proto.matrix[0] * proto.spacing[0]:g}*{proto.matrix[1] * proto.spacing[1]:g}")
    mr.add_new(0x11, "LO", f"p{proto.ipat}" if proto.ipat > 1 else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")  # a scanner's export lands complete: written, then renamed
    ds.save_as(tmp, enforce_file_format=True)
    os.replace(tmp, path)
