"""Per scanner station (0008,1010): the series being acquired and how it compares.

Pure logic, no I/O: the caller reads headers and looks references up, and hands both
to :meth:`Stations.check` for **every** file, so a parameter that changes in the middle
of a series is a new finding, not hidden behind the series' first file.

A finding's ``conforms`` is ``True`` (green), ``False`` (red, with ``errors``) or
``None``: no reference for this project and sequence (grey, never green).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from labdeck.watch.dicom.headers import UNITS, Header

__all__ = ["Finding", "Reference", "StationState", "Stations", "compare", "describe", "station_channel"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def station_channel(station: str) -> str:
    """``dicom/<station>``, the station's name made a single channel segment."""
    return "dicom/" + (_UNSAFE.sub("_", station).strip("_") or "unknown")


class Reference(msgspec.Struct, frozen=True, kw_only=True):
    """The protocol a series is checked against."""

    params: dict[str, Any]
    source: Literal["pinned", "learned"]
    count: int = 0
    """For a learned reference: the series that had this parameter set."""


class Finding(msgspec.Struct, kw_only=True):
    """One file checked: what goes on ``dicom/<station>``."""

    station: str
    path: str
    project: str
    sequence: str
    series: int
    conforms: bool | None
    errors: dict[str, dict[str, Any]]
    messages: list[str]
    reference: Literal["pinned", "learned"] | None
    file: int
    """This file's number within its series at this station, from 1."""
    t: float


class StationState(msgspec.Struct, kw_only=True):
    """What a late browser needs to draw one station's card.

    ``conforms`` is the *series'* verdict: ``False`` once any of its files did not conform
    (``errors`` and ``messages`` are the latest mismatch), ``None`` without a reference.
    """

    station: str
    project: str
    sequence: str
    series: int
    series_uid: str
    files: int
    conforms: bool | None
    errors: dict[str, dict[str, Any]]
    messages: list[str]
    params: dict[str, Any]
    reference: dict[str, Any] | None
    reference_source: Literal["pinned", "learned"] | None
    reference_count: int
    bad_files: int
    """Files of this series that did not conform."""
    session: list[dict[str, Any]]
    """The series seen so far at this station, oldest first (a bounded list)."""
    updated: float


SESSION_LENGTH = 50


def _same_text(a: str, b: str) -> bool:
    return "".join(a.split()).casefold() == "".join(b.split()).casefold()


def _close(have: Any, expect: Any, tol: float) -> bool:
    if isinstance(expect, str) or isinstance(have, str):
        return isinstance(have, str) and isinstance(expect, str) and _same_text(have, expect)
    if isinstance(expect, bool) or isinstance(have, bool):
        return bool(have == expect)
    if isinstance(expect, int | float) and isinstance(have, int | float):
        return abs(have - expect) <= tol + 1e-9
    if isinstance(expect, list) and isinstance(have, list):
        return len(have) == len(expect) and all(_close(h, e, tol) for h, e in zip(have, expect, strict=True))
    return bool(have == expect)


def compare(have: Mapping[str, Any], expect: Mapping[str, Any],
            tolerances: Mapping[str, float]) -> dict[str, dict[str, Any]]:
    """The parameters of ``have`` that differ from ``expect``: ``{param: {"expect", "have"}}``.

    A parameter the reference lacks (``None``) is not checked. TE is a set: each echo
    time of the file must be one of the reference's (within tolerance).
    """
    errors = {}
    for name, want in expect.items():
        if want is None:
            continue
        got = have.get(name)
        tol = tolerances.get(name, 0.0)
        if name == "TE" and isinstance(want, list) and isinstance(got, list):
            ok = all(any(_close(g, w, tol) for w in want) for g in got)
        else:
            ok = got is not None and _close(got, want, tol)
        if not ok:
            errors[name] = {"expect": want, "have": got}
    return errors


def _show(value: Any, unit: str | None) -> str:
    if isinstance(value, list):
        text = " x ".join(_show(v, None) for v in value) if value else "nothing"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif value is None:
        return "missing"
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


def describe(errors: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Each mismatch in words: ``TR should be 1300 ms but is 2000 ms``."""
    return [f"{name} should be {_show(e['expect'], UNITS.get(name))} but is {_show(e['have'], UNITS.get(name))}"
            for name, e in errors.items()]


class Stations:
    """The state of every scanner station seen.

    Args:
        tolerances: per-parameter tolerances, in each parameter's unit.
    """

    def __init__(self, tolerances: Mapping[str, float]) -> None:
        self.tolerances = dict(tolerances)
        self.stations: dict[str, StationState] = {}

    def check(self, header: Header, path: str, reference: Reference | None) -> Finding:
        """Check one file of ``header``'s series against ``reference``; updates the station."""
        errors = compare(header.params, reference.params, self.tolerances) if reference else {}
        conforms = None if reference is None else not errors
        state = self._state_for(header)
        state.files += 1
        state.bad_files += conforms is False
        if errors:  # a later conforming file does not hide what went wrong in this series
            state.errors, state.messages = errors, describe(errors)
        self._merge(state, header.params, reference)
        state.conforms = self._series_verdict(state)
        state.session[-1].update(files=state.files, conforms=state.conforms, bad_files=state.bad_files)
        return Finding(station=header.station, path=path, project=header.project, sequence=header.sequence,
                       series=header.series, conforms=conforms, errors=errors, messages=describe(errors),
                       reference=reference.source if reference else None, file=state.files, t=state.updated)

    @staticmethod
    def _series_verdict(state: StationState) -> bool | None:
        if state.reference is None:
            return None
        return state.bad_files == 0

    def _state_for(self, header: Header) -> StationState:
        state = self.stations.get(header.station)
        if state is None or state.series_uid != header.series_uid:
            session = state.session if state is not None and state.project == header.project else []
            state = StationState(station=header.station, project=header.project, sequence=header.sequence,
                                 series=header.series, series_uid=header.series_uid, files=0, conforms=None,
                                 errors={}, messages=[], params={}, reference=None, reference_source=None,
                                 reference_count=0, bad_files=0, session=session, updated=time.time())
            session.append({"series": header.series, "sequence": header.sequence, "files": 0, "conforms": None,
                            "bad_files": 0})
            del session[:-SESSION_LENGTH]
            self.stations[header.station] = state
        return state

    def _merge(self, state: StationState, params: dict[str, Any], reference: Reference | None) -> None:
        """The series' parameters so far (TE: every echo seen) and the reference it is checked against."""
        te = sorted(set(state.params.get("TE") or []) | set(params.get("TE") or []))
        state.params = {**params, "TE": te or None}
        state.reference = dict(reference.params) if reference else None
        state.reference_source = reference.source if reference else None
        state.reference_count = reference.count if reference else 0
        state.updated = time.time()

    def current(self, station: str) -> StationState | None:
        return self.stations.get(station)

    def state(self) -> dict[str, Any]:
        """Every station's state (and its ``channel``), by station name, with the parameters' units."""
        return {"stations": {name: {**msgspec.to_builtins(s), "channel": station_channel(name)}
                             for name, s in sorted(self.stations.items())},
                "units": UNITS}
