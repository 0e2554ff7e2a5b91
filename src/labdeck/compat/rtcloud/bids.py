"""``bidsInterface``: image volumes as BIDS incrementals, from the scanner's DICOM files or a
BIDS folder on disk, with rt-cloud's names.

::

    bids = ClientInterface().bidsInterface
    stream = bids.initDicomBidsStream(dicomDir, "001_000013_{TR:06d}.dcm", 300_000,
                                      subject="01", task="faces", run=1)
    incremental = bids.getIncremental(stream)        # the next volume, waiting for its file
    incremental.getImageData(), incremental.getMetadataField("RepetitionTime")

- ``initDicomBidsStream`` reads through ``dataInterface``'s scanner stream (the same allowed
  folders, the same wait for a file written whole) and converts each DICOM image to a NIfTI
  volume with nibabel: one slice per file (a Siemens mosaic stays one 2-D slice), oriented
  from the image's position and orientation tags; no patient field reaches the metadata.
- ``initBidsStream`` streams the volumes of one run of a BIDS folder (``sub-<subject>/
  [ses-<session>/]func/..._bold.nii[.gz]`` with its JSON sidecar).
- ``initOpenNeuroStream`` needs the dataset already downloaded into ``cachePath/<accession>``
  (rt-cloud's cache folder, ``/tmp/openneuro`` by default): labdeck does not fetch from
  OpenNeuro, which needs the network.

nibabel is needed for this part only (``pip install labdeck[rtcloud]``).
"""

from __future__ import annotations

import importlib
import json
import os
import time
from pathlib import Path
from typing import Any

from labdeck.compat.rtcloud.data import DataInterface
from labdeck.compat.rtcloud.errors import RequestError, ValidationError

__all__ = ["BidsIncremental", "BidsInterface", "MissingMetadataError", "dicom_metadata", "dicom_to_nifti"]

ENTITIES = ("subject", "session", "task", "acquisition", "run", "echo", "suffix", "datatype")
_ABBREVIATIONS = {"subject": "sub", "session": "ses", "task": "task", "acquisition": "acq", "run": "run",
                  "echo": "echo"}
_SECONDS = {"RepetitionTime": 1000.0, "EchoTime": 1000.0}  # DICOM gives milliseconds, BIDS seconds
_DICOM_FIELDS = ("RepetitionTime", "EchoTime", "FlipAngle", "ProtocolName", "SeriesDescription",
                 "SeriesNumber", "InstanceNumber", "AcquisitionTime", "MagneticFieldStrength", "Manufacturer")


class MissingMetadataError(RequestError):
    """An entity a stream needs (``subject``, ``task``) was not given."""

    wire_type = "InvalidArguments"


def _nibabel() -> Any:
    try:
        return importlib.import_module("nibabel")
    except ImportError:
        raise RequestError("bidsInterface needs nibabel: pip install 'labdeck[rtcloud]'") from None


class BidsIncremental:
    """One image volume with its metadata, as rt-cloud's ``BidsIncremental`` offers it.

    Args:
        image: a nibabel NIfTI image of one volume.
        imageMetadata: the sidecar fields and the BIDS entities (``subject``, ``task`` ...).
    """

    def __init__(self, image: Any, imageMetadata: dict[str, Any]) -> None:
        self.image = image
        self._imgMetadata = dict(imageMetadata)
        self._imgMetadata.setdefault("suffix", "bold")
        self._imgMetadata.setdefault("datatype", "func")
        if "task" in self._imgMetadata:
            self._imgMetadata.setdefault("TaskName", self._imgMetadata["task"])

    def getImageData(self) -> Any:
        """The volume's voxels as a numpy array."""
        import numpy as np

        return np.asanyarray(self.image.dataobj)

    def getImageHeader(self) -> Any:
        return self.image.header

    def getImageDimensions(self) -> tuple[int, ...]:
        return tuple(self.image.header.get_data_shape())

    def getImageMetadata(self) -> dict[str, Any]:
        return dict(self._imgMetadata)

    def getMetadataField(self, field: str, strict: bool = False) -> Any:
        """The value of ``field``.

        Raises:
            ValueError: ``strict`` and ``field`` is not a BIDS entity.
            KeyError: the metadata has no ``field``.
        """
        if strict and field not in ENTITIES:
            raise ValueError(f"{field} is not a valid BIDS entity name")
        try:
            return self._imgMetadata[field]
        except KeyError:
            raise KeyError(f"'{field}' is not in the Incremental's metadata") from None

    def setMetadataField(self, field: str, value: Any, strict: bool = False) -> None:
        if strict and field not in ENTITIES:
            raise ValueError(f"{field} is not a valid BIDS entity name")
        if not field:
            raise ValueError("Metadata field to set cannot be None")
        self._imgMetadata[field] = value

    def getEntities(self) -> dict[str, Any]:
        """The metadata's BIDS entities only."""
        return {k: v for k, v in self._imgMetadata.items() if k in ENTITIES}

    def getSuffix(self) -> str:
        return str(self._imgMetadata["suffix"])

    def getDatatype(self) -> str:
        return str(self._imgMetadata["datatype"])


class _DicomStream:
    def __init__(self, data: DataInterface, dicomDir: str, pattern: str, minSize: int,
                 entities: dict[str, Any]) -> None:
        for needed in ("subject", "task"):
            if needed not in entities:
                raise MissingMetadataError(f"Entities must include '{needed}' field")
        self.entities = {"suffix": "bold", "datatype": "func", **entities}
        self.data = data
        self.streamId = data.initScannerStream(dicomDir, pattern, minSize)
        self.nextVol = 0

    def getNumVolumes(self) -> int:
        raise NotImplementedError("getNumVolumes not implemented for DicomBidsStream")

    def getIncremental(self, volIdx: int, timeout: float) -> BidsIncremental | None:
        if volIdx >= 0:
            self.nextVol = volIdx
        image = self.data.getImageData(self.streamId, self.nextVol, timeout=timeout)
        if image is None:
            return None
        self.nextVol += 1
        return BidsIncremental(dicom_to_nifti(image), {**dicom_metadata(image), **self.entities})


class _BidsStream:
    def __init__(self, folder: Path, entities: dict[str, Any]) -> None:
        self.entities = {"suffix": "bold", "datatype": "func", **entities}
        self.path = _find_run(folder, self.entities)
        sidecar = Path(str(self.path).removesuffix(".gz").removesuffix(".nii") + ".json")
        self.sidecar = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
        self.image = _nibabel().load(str(self.path))
        shape = self.image.shape
        self.numVolumes = shape[3] if len(shape) == 4 else 1
        self.nextVol = 0

    def getNumVolumes(self) -> int:
        return int(self.numVolumes)

    def getIncremental(self, volIdx: int, timeout: float) -> BidsIncremental | None:
        if volIdx >= 0:
            self.nextVol = volIdx
        if self.nextVol >= self.numVolumes:
            return None
        nib = _nibabel()
        volume = self.image.slicer[..., self.nextVol] if len(self.image.shape) == 4 else self.image
        self.nextVol += 1
        return BidsIncremental(nib.Nifti1Image(volume.get_fdata(), volume.affine), {**self.sidecar, **self.entities})


def _find_run(folder: Path, entities: dict[str, Any]) -> Path:
    """The image of the run ``entities`` name in the BIDS folder.

    Raises:
        RequestError: no image, or several, match.
    """
    wanted = [f"{_ABBREVIATIONS[k]}-{entities[k]}" for k in _ABBREVIATIONS if entities.get(k) is not None]
    found = [p for p in sorted(folder.glob(f"sub-*/**/{entities['datatype']}/*_{entities['suffix']}.nii*"))
             if all(part in p.name.split(".")[0].split("_") for part in wanted)]
    if len(found) != 1:
        what = "no image" if not found else f"{len(found)} images ({', '.join(p.name for p in found[:3])})"
        raise RequestError(f"{folder}: {what} for {', '.join(wanted)}; name more entities")
    return found[0]


def dicom_metadata(image: Any) -> dict[str, Any]:
    """The acquisition fields of a pydicom dataset as BIDS sidecar fields (times in
    seconds); patient fields are never read."""
    found: dict[str, Any] = {}
    for name in _DICOM_FIELDS:
        value = image.get(name)
        if value is None or value == "":
            continue
        found[name] = float(value) / _SECONDS[name] if name in _SECONDS else _plain(value)
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value) if not isinstance(value, str) else value
    except (TypeError, ValueError):
        return str(value)


def dicom_to_nifti(image: Any) -> Any:
    """One DICOM slice as a NIfTI volume (x by y by 1), in RAS+ space from its position and
    orientation (a slice without them gets its pixel spacing only)."""
    import numpy as np

    nib = _nibabel()
    pixels = np.asarray(image.pixel_array)
    voxels = pixels.T[..., np.newaxis] if pixels.ndim == 2 else np.transpose(pixels, (2, 1, 0))
    rows, cols = (float(v) for v in image.get("PixelSpacing", [1.0, 1.0]))
    thickness = float(image.get("SliceThickness", 1.0) or 1.0)
    orientation = [float(v) for v in image.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0])]
    position = [float(v) for v in image.get("ImagePositionPatient", [0, 0, 0])]
    row, col = np.array(orientation[:3]), np.array(orientation[3:])
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = row * cols, col * rows, np.cross(row, col) * thickness, position
    return nib.Nifti1Image(voxels, np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps)


class BidsInterface:
    """rt-cloud's ``BidsInterface`` in local mode, under ``dataInterface``'s allowed folders.

    Args:
        dataRemote: accepted for rt-cloud's signature; ``True`` is refused.
        allowedDirs: the folders DICOM files and BIDS folders may be read from (``["*"]``: any).
        scannerClockSkew: seconds the scanner's clock is ahead of this machine's.
        cachePath: where ``initOpenNeuroStream`` looks for downloaded datasets.
    """

    def __init__(self, dataRemote: bool = False, allowedDirs: list[str] | None = None,
                 scannerClockSkew: float = 0, cachePath: str = "/tmp/openneuro") -> None:
        if dataRemote:
            raise RequestError("labdeck has no remote data mode: the script reads the files where it runs")
        self.allowedDirs = list(allowedDirs or [])
        self.scannerClockSkew = scannerClockSkew
        self.cachePath = cachePath
        self.streamMap: dict[int, _DicomStream | _BidsStream] = {}

    def initDicomBidsStream(self, dicomDir: str, dicomFilePattern: str, dicomMinSize: int,
                            anonymize: bool = True, **entities: Any) -> int:
        """Stream the DICOM files ``dicomFilePattern`` (with ``{TR}``) names in ``dicomDir``
        as incrementals; ``entities`` must hold ``subject`` and ``task``. Returns the stream id."""
        data = DataInterface(allowedDirs=self.allowedDirs, allowedFileTypes=[".dcm"])
        return self._add(_DicomStream(data, dicomDir, dicomFilePattern, dicomMinSize, entities))

    def initBidsStream(self, archivePath: str, **entities: Any) -> int:
        """Stream the run ``entities`` name from the BIDS folder ``archivePath``."""
        return self._add(_BidsStream(self._folder(archivePath), entities))

    def initOpenNeuroStream(self, dsAccessionNumber: str, **entities: Any) -> int:
        """Stream a run of an OpenNeuro dataset already downloaded into ``cachePath``.

        Raises:
            RequestError: no subject or run given, or the dataset is not there.
        """
        if "subject" not in entities or "run" not in entities:
            raise RequestError("initOpenNeuroStream: Must specify subject and run number")
        folder = Path(self.cachePath) / os.path.basename(dsAccessionNumber)
        if not folder.is_dir():
            raise RequestError(f"initOpenNeuroStream: {dsAccessionNumber} is not in {self.cachePath}; downloading "
                               "from OpenNeuro needs the network: download the dataset into that folder first")
        return self._add(_BidsStream(folder, entities))

    def getIncremental(self, streamId: int, volIdx: int = -1, timeout: float = 5,
                       demoStep: float = 0) -> BidsIncremental | None:
        """Volume ``volIdx`` of the stream (``-1``: the one after the last); ``None`` past the
        end of a BIDS run, or when a DICOM file never arrives or cannot be read."""
        incremental = self._stream(streamId).getIncremental(volIdx, timeout)
        if demoStep and demoStep > 0:
            time.sleep(demoStep)
        return incremental

    def getNumVolumes(self, streamId: int) -> int:
        """The number of volumes of a BIDS stream (not known ahead for a DICOM stream)."""
        return self._stream(streamId).getNumVolumes()

    def closeStream(self, streamId: int) -> None:
        self.streamMap.pop(streamId, None)

    def ping(self) -> float:
        """This machine's time, in seconds since the epoch."""
        return time.time()

    def getClockSkew(self, callerClockTime: float, roundTripTime: float) -> float:
        """Seconds the scanner's clock is ahead of the caller's (see ``dataInterface``)."""
        return time.time() - (callerClockTime + roundTripTime / 2.0) + self.scannerClockSkew

    def _add(self, stream: _DicomStream | _BidsStream) -> int:
        stream_id = max(self.streamMap, default=0) + 1
        self.streamMap[stream_id] = stream
        return stream_id

    def _stream(self, streamId: int) -> _DicomStream | _BidsStream:
        try:
            return self.streamMap[streamId]
        except KeyError:
            raise ValidationError(f"no stream {streamId!r}: call an init...Stream first") from None

    def _folder(self, path: str) -> Path:
        checker = DataInterface(allowedDirs=self.allowedDirs, allowedFileTypes=["*"])
        folder = checker._checked(path, pattern=True)
        if not folder.is_dir():
            raise RequestError(f"{path} is not a BIDS folder")
        return folder
