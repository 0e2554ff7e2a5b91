"""The ``dicom`` kind of watch: headers, per-station state, reference protocols."""

from __future__ import annotations

from labdeck.watch.dicom.headers import UNITS, Header, read_header
from labdeck.watch.dicom.stations import Finding, Reference, Stations, compare

__all__ = ["UNITS", "Finding", "Header", "Reference", "Stations", "compare", "read_header"]
