"""DICOM headers, read without pixel data, as the parameters a protocol check compares.

Only the fields named here are read (``specific_tags``), so patient-identifying fields
(name, ID, birth date, address...) are never in memory, let alone on a channel.

Parameters, with their units (:data:`UNITS`); numbers are numbers, lists are lists:

=============== ============ ===================================================
TR              ms           RepetitionTime (0018,0080)
TE              ms, a list   EchoTime (0018,0081); one per file, a set per series
FlipAngle       deg          (0018,1314)
Matrix          [int, int]   AcquisitionMatrix (0018,1310), its non-zero values
PixelSpacing    mm, [r, c]   (0028,0030), rounded to 0.001 mm
SliceThickness  mm           (0018,0050)
Bandwidth       Hz/px        PixelBandwidth (0018,0095)
iPAT            int          Siemens (0051,1011) ``p2`` -> 2; 1 when absent
PhaseEncoding   str          InPlanePhaseEncodingDirection, signed from CSA: ``COL-``
FoV             mm, [r, c]   Siemens (0051,100C) ``FoV 220*220``, else rows x spacing
SequenceName    str          (0018,0024)
SequenceFile    str          CSA series header, ``tSequenceFileName``
Orientation     str          the slice plane from ImageOrientationPatient (0020,0037):
                             ``transverse``, ``coronal`` or ``sagittal``, by the
                             axis the slice normal is closest to
=============== ============ ===================================================

Beside them, the acquisition settings of :data:`EXTRA_FIELDS` (standard DICOM keywords
such as MRAcquisitionType or MagneticFieldStrength, never a patient's) are kept in
:attr:`Header.extra` under their keyword, in the form dicompare reads them: a reference
imported from a dicompare schema may check them.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Collection
from pathlib import Path
from typing import Any

import msgspec

from labdeck.exceptions import UnreadableFile
from labdeck.watch.dicom.csa import parse_csa

__all__ = ["EXTRA_FIELDS", "PARAMETERS", "UNITS", "Header", "from_dataset", "read_header", "session_of"]

UNITS: dict[str, str | None] = {
    "TR": "ms",
    "TE": "ms",
    "FlipAngle": "deg",
    "Matrix": None,
    "PixelSpacing": "mm",
    "SliceThickness": "mm",
    "Bandwidth": "Hz/px",
    "iPAT": None,
    "PhaseEncoding": None,
    "FoV": "mm",
    "SequenceName": None,
    "SequenceFile": None,
    "Orientation": None,
}
PARAMETERS = tuple(UNITS)


class Header(msgspec.Struct, frozen=True, kw_only=True):
    """What labdeck keeps of one DICOM file: where it belongs, and its parameters."""

    station: str
    project: str
    sequence: str
    series: int
    series_uid: str
    params: dict[str, Any]
    description: str = ""
    """SeriesDescription (0008,103E), beside ``sequence`` (the ProtocolName)."""
    session: str = ""
    """The study the file belongs to, as a digest of its StudyInstanceUID (never the UID)."""
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    """The :data:`EXTRA_FIELDS` the file has, by keyword."""


EXTRA_FIELDS: tuple[str, ...] = (
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "MagneticFieldStrength",
    "ImagingFrequency",
    "ImagedNucleus",
    "MRAcquisitionType",
    "ScanningSequence",
    "SequenceVariant",
    "ScanOptions",
    "ImageType",
    "AngioFlag",
    "InversionTime",
    "NumberOfAverages",
    "EchoTrainLength",
    "NumberOfPhaseEncodingSteps",
    "PercentSampling",
    "PercentPhaseFieldOfView",
    "ReceiveCoilName",
    "TransmitCoilName",
    "ReconstructionDiameter",
    "ParallelReductionFactorInPlane",
    "ParallelAcquisitionTechnique",
    "AcquisitionMatrix",
    "Rows",
    "Columns",
    "NumberOfTemporalPositions",
    "BodyPartExamined",
    "DiffusionBValue",
    "GradientEchoTrainLength",
    "PartialFourierDirection",
    "ImageOrientationPatient",
    "SeriesDescription",
    "ProtocolName",
)
"""Acquisition settings read beside :data:`PARAMETERS`, by DICOM keyword: what published
protocols (dicompare's schemas) check beyond them. None of them identifies a person."""


_TAGS = [
    0x00081010,
    0x00081030,
    0x0008103E,
    0x00181030,
    0x00200011,
    0x0020000E,
    0x00180080,
    0x00180081,
    0x00181314,
    0x00181310,
    0x00280030,
    0x00180050,
    0x00180095,
    0x00181312,
    0x00180024,
    0x00280010,
    0x00280011,
    0x00280002,
    0x00280100,
    0x00280008,
    0x00290010,
    0x00291010,
    0x00291020,
    0x00510010,
    0x00511011,
    0x0051100C,
    0x0020000D,
    0x00200037,
]
_EXTRA_TAGS: dict[str, int] = {}


def _extra_tags(extras: Collection[str]) -> dict[str, int]:
    if not _EXTRA_TAGS:
        from pydicom.datadict import tag_for_keyword

        _EXTRA_TAGS.update({k: int(tag_for_keyword(k) or 0) for k in EXTRA_FIELDS})
    return {k: _EXTRA_TAGS[k] for k in extras if k in _EXTRA_TAGS}


_SEQ_FILE = re.compile(r'tSequenceFileName\s*=\s*"+([^"]*)"+')


def read_header(path: Path, extras: Collection[str] = ()) -> Header:
    """The header of the DICOM file at ``path``, with the :data:`EXTRA_FIELDS` named in
    ``extras`` (reading each costs time: only those a reference checks).

    Raises:
        UnreadableFile: empty, not DICOM, truncated before the fields that place it,
            or not readable (the message says which).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        if path.stat().st_size == 0:
            raise UnreadableFile("empty file (0 bytes)")
        with path.open("rb") as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=_TAGS + list(_extra_tags(extras).values()))
            _check_complete(ds, fp.tell(), path.stat().st_size)
    except InvalidDicomError:
        raise UnreadableFile("not a DICOM file") from None
    except PermissionError:
        raise UnreadableFile("permission denied") from None
    except FileNotFoundError:
        raise UnreadableFile("vanished before it could be read") from None
    except (OSError, EOFError, ValueError, struct.error, KeyError, TypeError) as exc:
        raise UnreadableFile(f"truncated or corrupt DICOM: {type(exc).__name__}") from None
    return from_dataset(ds, extras)


def _check_complete(ds: Any, pixels_at: int, size: int) -> None:
    """A file cut short (a copy interrupted) ends before its pixel data does.

    Reading stops where the pixel data element begins; uncompressed, its length is
    known from the image's shape (12 bytes of element header, then the pixels).
    """
    if pixels_at >= size:  # an MR image without pixels is one whose copy stopped early
        raise UnreadableFile("truncated DICOM: the file ends before its pixel data")
    rows, cols = ds.get("Rows"), ds.get("Columns")
    if not rows or not cols:
        return
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or syntax.is_compressed:
        return
    frames = int(ds.get("NumberOfFrames") or 1)
    pixels = int(rows) * int(cols) * int(ds.get("SamplesPerPixel") or 1) * (int(ds.get("BitsAllocated") or 16) // 8)
    if size < pixels_at + 12 * (not syntax.is_implicit_VR) + 8 * syntax.is_implicit_VR + pixels * frames:
        raise UnreadableFile("truncated DICOM: the pixel data is cut short")


def from_dataset(ds: Any, extras: Collection[str] = EXTRA_FIELDS) -> Header:
    """A :class:`Header` from a pydicom dataset (read with or without pixels), with the
    :data:`EXTRA_FIELDS` named in ``extras`` it has.

    Raises:
        UnreadableFile: the series it belongs to cannot be told.
    """
    try:
        uid = str(ds.get("SeriesInstanceUID") or "")
        if not uid:
            raise UnreadableFile("truncated or incomplete DICOM: no SeriesInstanceUID")
        return Header(
            station=_text(ds.get("StationName")) or "unknown",
            project=_text(ds.get("StudyDescription")) or "unknown",
            sequence=_text(ds.get("ProtocolName")) or _text(ds.get("SeriesDescription")) or "unknown",
            series=int(ds.get("SeriesNumber") or 0),
            series_uid=uid,
            params=_params(ds),
            description=_text(ds.get("SeriesDescription")),
            session=session_of(_text(ds.get("StudyInstanceUID")) or uid),
            extra=_extra(ds, extras),
        )
    except UnreadableFile:
        raise
    except Exception as exc:  # pydicom converts values lazily: a corrupt one fails here
        raise UnreadableFile(f"truncated or corrupt DICOM: {type(exc).__name__}") from None


def session_of(study_uid: str) -> str:
    """A short, stable name for a study that does not reveal its UID."""
    return hashlib.sha256(study_uid.encode()).hexdigest()[:12]


def _plain(value: Any) -> Any:
    """A pydicom value as dicompare reads it: numbers as numbers, multi-values as lists."""
    if isinstance(value, bytes | bytearray):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float):  # DS and IS are subclasses
        return int(value) if isinstance(value, int) else float(value)
    try:
        return [_plain(v) for v in value]
    except TypeError:
        return str(value).strip()


def _extra(ds: Any, extras: Collection[str]) -> dict[str, Any]:
    found = {}
    for keyword, tag in _extra_tags(extras).items():
        if tag in ds:
            value = _plain(ds[tag].value)
            if value is not None and value != "" and value != []:
                found[keyword] = value
    return found


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _num(value: Any, digits: int = 3) -> float | None:
    if value is None or value == "":
        return None
    return round(float(value), digits)


def _nums(value: Any, digits: int = 3) -> list[float] | None:
    if value is None or value == "":
        return None
    items = [value] if isinstance(value, str | int | float) else list(value)
    return [round(float(v), digits) for v in items]


def _params(ds: Any) -> dict[str, Any]:
    image = parse_csa(_private(ds, 0x10)) if 0x00291010 in ds else {}
    series = parse_csa(_private(ds, 0x20)) if 0x00291020 in ds else {}
    te = _num(ds.get("EchoTime"))
    matrix = [int(v) for v in (ds.get("AcquisitionMatrix") or []) if int(v)] or None
    spacing = _nums(ds.get("PixelSpacing"))
    return {
        "TR": _num(ds.get("RepetitionTime")),
        "TE": [te] if te is not None else None,
        "FlipAngle": _num(ds.get("FlipAngle")),
        "Matrix": matrix,
        "PixelSpacing": spacing,
        "SliceThickness": _num(ds.get("SliceThickness")),
        "Bandwidth": _num(ds.get("PixelBandwidth")),
        "iPAT": _ipat(ds),
        "PhaseEncoding": _phase(ds, image),
        "FoV": _fov(ds, spacing),
        "SequenceName": _text(ds.get("SequenceName")) or None,
        "SequenceFile": _sequence_file(series),
        "Orientation": _orientation(ds.get("ImageOrientationPatient")),
    }


def _private(ds: Any, element: int) -> bytes:
    value = ds[0x00290000 | 0x1000 | element].value
    return bytes(value) if isinstance(value, bytes | bytearray) else b""


def _ipat(ds: Any) -> int:
    text = _text(ds[0x00511011].value) if 0x00511011 in ds else ""
    m = re.search(r"p(\d+)", text)
    return int(m[1]) if m else 1


def _phase(ds: Any, image: dict[str, list[str]]) -> str | None:
    direction = _text(ds.get("InPlanePhaseEncodingDirection")) or None
    positive = image.get("PhaseEncodingDirectionPositive")
    if direction and positive:
        return direction + ("+" if positive[0].strip() == "1" else "-")
    return direction


def _fov(ds: Any, spacing: list[float] | None) -> list[float] | None:
    if 0x0051100C in ds:
        m = re.search(r"(\d+(?:\.\d+)?)\*(\d+(?:\.\d+)?)", _text(ds[0x0051100C].value))
        if m:
            return [float(m[1]), float(m[2])]
    rows, cols = ds.get("Rows"), ds.get("Columns")
    if spacing and rows and cols and len(spacing) == 2:
        return [round(int(rows) * spacing[0], 1), round(int(cols) * spacing[1], 1)]
    return None


_PLANES = ("sagittal", "coronal", "transverse")  # slice normal along x (R-L), y (A-P), z (S-I)


def _orientation(iop: Any) -> str | None:
    try:
        r = [float(v) for v in iop]
    except (TypeError, ValueError):
        return None
    if len(r) != 6:
        return None
    normal = (r[1] * r[5] - r[2] * r[4], r[2] * r[3] - r[0] * r[5], r[0] * r[4] - r[1] * r[3])
    return _PLANES[max(range(3), key=lambda i: abs(normal[i]))]


def _sequence_file(series: dict[str, list[str]]) -> str | None:
    for value in series.get("MrPhoenixProtocol", []):
        m = _SEQ_FILE.search(value)
        if m:
            return m[1].replace("%SiemensSeq%\\", "").replace("%CustomerSeq%\\", "")
    return None
