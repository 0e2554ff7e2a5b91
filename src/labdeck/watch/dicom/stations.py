"""Per scanner station (0008,1010): the series being acquired and how it compares.

Pure logic, no I/O: the caller reads headers and looks references up, and hands both
to :meth:`Stations.check` for **every** file, so a parameter that changes in the middle
of a series is a new finding, not hidden behind the series' first file.

A finding's ``conforms`` is ``True`` (green), ``False`` (red, with ``errors``) or
``None``: no reference for this project and sequence (grey, never green).

A reference parameter is a value (compared with the parameter's tolerance) or a
constraint, as dicompare schemas state them: ``{"value", "tolerance"}``, ``{"min",
"max"}``, ``{"contains"}``, ``{"contains_any"}``, ``{"contains_all"}`` or ``{"value"}``
alone (exact; a list of values compared as a set).

Session checks compare series with each other: within one session (a study), every
series whose sequence matches one of a check's patterns must agree on the check's
parameters with the first such series; a difference is an error like any other, its
``expect`` being the first series' value and ``session`` naming that series.

A station with a non-conforming file raises an *alert* that stays until an operator
acknowledges it (:meth:`Stations.acknowledge`), whatever the files after it show.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any, Literal

import msgspec

from labdeck.watch.dicom.headers import UNITS, Header

__all__ = [
    "CONSTRAINT_KEYS",
    "Finding",
    "Reference",
    "SessionCheck",
    "StationState",
    "Stations",
    "compare",
    "describe",
    "is_constraint",
    "station_channel",
]

CONSTRAINT_KEYS = frozenset({"value", "tolerance", "min", "max", "contains", "contains_any", "contains_all"})

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


class SessionCheck(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[[watch.<name>.session_checks]]``: parameters the series of one session must share."""

    sequences: list[str]
    """Shell patterns of the sequences concerned (case-insensitive), e.g. ``["fmri_*", "fieldmap*"]``."""
    params: list[str]
    """The parameters that must agree, e.g. ``["FoV", "Orientation"]``."""
    name: str = ""
    """What the check is called in messages and reports."""


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
    session: str = ""
    """The study the file belongs to (a digest, see :func:`~labdeck.watch.dicom.headers.session_of`)."""


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
    session_id: str = ""
    alert: dict[str, Any] | None = None
    """The latest non-conforming file not yet acknowledged: series, sequence, path, messages, t."""


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


def is_constraint(value: Any) -> bool:
    """Whether a reference value is a constraint object rather than a value."""
    return isinstance(value, dict) and bool(value) and set(value) <= CONSTRAINT_KEYS


def _norm(value: Any) -> Any:
    return value.strip().casefold() if isinstance(value, str) else value


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def _within(have: Any, want: Any, tol: float, te: bool) -> bool:
    wants, haves = _items(want), _items(have)
    if not all(_number(v) for v in wants + haves):
        return False
    if te:  # each echo time of the file is one of the expected ones
        return all(any(abs(h - w) <= tol + 1e-9 for w in wants) for h in haves)
    if len(wants) > 1:
        return len(haves) == len(wants) and all(abs(h - w) <= tol + 1e-9 for h, w in zip(haves, wants, strict=True))
    return all(abs(h - wants[0]) <= tol + 1e-9 for h in haves)


def _contains(have: Any, part: Any) -> bool:
    if not isinstance(part, str):
        return False
    needle = part.strip().casefold()
    return any(isinstance(h, str) and needle in h.casefold() for h in _items(have))


def _meets(name: str, have: Any, c: Mapping[str, Any]) -> bool:
    """Whether ``have`` satisfies the constraint ``c``, in dicompare's order of precedence."""
    if have is None:
        return False
    if "contains_any" in c:
        if isinstance(have, list):
            wanted = [_norm(v) for v in _items(c["contains_any"])]
            return any(_norm(h) in wanted for h in have)
        return any(_contains(have, w) for w in _items(c["contains_any"]))
    if "contains_all" in c:
        return isinstance(have, list) and all(_norm(w) in [_norm(h) for h in have] for w in _items(c["contains_all"]))
    if "contains" in c:
        return _contains(have, c["contains"])
    lo, hi = c.get("min"), c.get("max")
    if lo is not None or hi is not None:
        return all(_number(h) and (lo is None or h >= lo) and (hi is None or h <= hi) for h in _items(have))
    if c.get("tolerance") is not None:
        return _within(have, c.get("value"), float(c["tolerance"]), name == "TE")
    want = c.get("value")
    if isinstance(want, list):
        if name == "TE":
            return _within(have, want, 0.0, True)
        return {_hashable(_norm(h)) for h in _items(have)} == {_hashable(_norm(w)) for w in want}
    if isinstance(have, list) and len(have) == 1:
        have = have[0]
    return want is None or bool(_norm(have) == _norm(want))


def _phase_unsigned(have: Any, want: Any) -> Any:
    """A reference without the phase sign (``COL``, as DICOM states it) accepts either sign."""
    if isinstance(have, str) and isinstance(want, str) and want[-1:] not in ("+", "-"):
        return have.rstrip("+-")
    return have


def compare(
    have: Mapping[str, Any], expect: Mapping[str, Any], tolerances: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """The parameters of ``have`` that differ from ``expect``: ``{param: {"expect", "have"}}``.

    A parameter the reference lacks (``None``) is not checked. TE is a set: each echo
    time of the file must be one of the reference's (within tolerance). A constraint
    object is checked as the module docstring says.
    """
    errors = {}
    for name, want in expect.items():
        if want is None:
            continue
        got = have.get(name)
        if name == "PhaseEncoding":
            got = _phase_unsigned(got, want.get("value") if is_constraint(want) else want)
        tol = tolerances.get(name, 0.0)
        if is_constraint(want):
            ok = _meets(name, got, want)
        elif name == "TE" and isinstance(want, list) and isinstance(got, list):
            ok = all(any(_close(g, w, tol) for w in want) for g in got)
        else:
            ok = got is not None and _close(got, want, tol)
        if not ok:
            errors[name] = {"expect": want, "have": have.get(name)}
    return errors


def _show(value: Any, unit: str | None) -> str:
    if is_constraint(value):
        return _show_constraint(value, unit)
    if isinstance(value, list):
        text = " x ".join(_show(v, None) for v in value) if value else "nothing"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif value is None:
        return "missing"
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


def _show_constraint(c: Mapping[str, Any], unit: str | None) -> str:
    if "contains_any" in c:
        return "one of " + ", ".join(_show(v, None) for v in _items(c["contains_any"]))
    if "contains_all" in c:
        return "all of " + ", ".join(_show(v, None) for v in _items(c["contains_all"]))
    if "contains" in c:
        return f"containing {c['contains']!r}"
    lo, hi = c.get("min"), c.get("max")
    if lo is not None and hi is not None:
        return f"{_show(lo, None)} to {_show(hi, unit)}"
    if lo is not None:
        return f"at least {_show(lo, unit)}"
    if hi is not None:
        return f"at most {_show(hi, unit)}"
    if c.get("tolerance") is not None:
        return f"{_show(c.get('value'), None)} ± {_show(c['tolerance'], unit)}"
    return _show(c.get("value"), unit)


def describe(errors: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Each mismatch in words: ``TR should be 1300 ms but is 2000 ms``; a session check's
    names the series it should agree with."""
    said = []
    for name, e in errors.items():
        unit = UNITS.get(name)
        first = e.get("session")
        where = f" (as in series {first['series']}, {first['sequence']})" if first else ""
        said.append(f"{name} should be {_show(e['expect'], unit)}{where} but is {_show(e['have'], unit)}")
    return said


class Stations:
    """The state of every scanner station seen.

    Args:
        tolerances: per-parameter tolerances, in each parameter's unit.
    """

    def __init__(self, tolerances: Mapping[str, float], session_checks: Sequence[SessionCheck] = ()) -> None:
        self.tolerances = dict(tolerances)
        self.session_checks = list(session_checks)
        self.stations: dict[str, StationState] = {}
        self._sessions: OrderedDict[str, dict[tuple[int, str], tuple[int, str, Any]]] = OrderedDict()

    def check(self, header: Header, path: str, reference: Reference | None) -> Finding:
        """Check one file of ``header``'s series against ``reference`` and against the
        session's other series; updates the station."""
        have = {**header.extra, **header.params}
        errors = compare(have, reference.params, self.tolerances) if reference else {}
        for name, error in self._session_errors(header, have).items():
            errors.setdefault(name, error)
        conforms = False if errors else (None if reference is None else True)
        state = self._state_for(header)
        state.files += 1
        state.bad_files += conforms is False
        messages = describe(errors)
        if errors:  # a later conforming file does not hide what went wrong in this series
            state.errors, state.messages = errors, messages
        self._merge(state, header, reference)
        state.conforms = self._series_verdict(state)
        state.session[-1].update(files=state.files, conforms=state.conforms, bad_files=state.bad_files)
        if conforms is False:
            state.alert = {
                "series": header.series,
                "sequence": header.sequence,
                "path": path,
                "messages": messages,
                "t": state.updated,
            }
        return Finding(
            station=header.station,
            path=path,
            project=header.project,
            sequence=header.sequence,
            series=header.series,
            conforms=conforms,
            errors=errors,
            messages=messages,
            reference=reference.source if reference else None,
            file=state.files,
            t=state.updated,
            session=header.session,
        )

    def acknowledge(self, station: str) -> dict[str, Any] | None:
        """Clear ``station``'s alert; returns it (``None``: there was none)."""
        state = self.stations.get(station)
        if state is None:
            return None
        alert, state.alert = state.alert, None
        return alert

    def _session_errors(self, header: Header, have: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Where this file disagrees with the first series of its session that a check covers."""
        if not self.session_checks or not header.session:
            return {}
        seen = self._sessions.setdefault(header.session, {})
        self._sessions.move_to_end(header.session)
        while len(self._sessions) > 64:
            self._sessions.popitem(last=False)
        errors: dict[str, dict[str, Any]] = {}
        sequence = header.sequence.casefold()
        for i, check in enumerate(self.session_checks):
            if not any(fnmatchcase(sequence, p.casefold()) for p in check.sequences):
                continue
            for param in check.params:
                value = have.get(param)
                first = seen.setdefault((i, param), (header.series, header.sequence, value))
                if value is None or first[2] is None or _close(value, first[2], self.tolerances.get(param, 0.0)):
                    continue
                errors[param] = {
                    "expect": first[2],
                    "have": value,
                    "session": {"series": first[0], "sequence": first[1], "check": check.name},
                }
        return errors

    @staticmethod
    def _series_verdict(state: StationState) -> bool | None:
        if state.bad_files:
            return False
        return None if state.reference is None else True

    def _state_for(self, header: Header) -> StationState:
        state = self.stations.get(header.station)
        if state is None or state.series_uid != header.series_uid:
            same = state is not None and state.project == header.project and state.session_id == header.session
            session = state.session if state is not None and same else []
            state = StationState(
                station=header.station,
                project=header.project,
                sequence=header.sequence,
                series=header.series,
                series_uid=header.series_uid,
                files=0,
                conforms=None,
                errors={},
                messages=[],
                params={},
                reference=None,
                reference_source=None,
                reference_count=0,
                bad_files=0,
                session=session,
                updated=time.time(),
                session_id=header.session,
                alert=state.alert if state is not None else None,
            )
            session.append(
                {"series": header.series, "sequence": header.sequence, "files": 0, "conforms": None, "bad_files": 0}
            )
            del session[:-SESSION_LENGTH]
            self.stations[header.station] = state
        return state

    def _merge(self, state: StationState, header: Header, reference: Reference | None) -> None:
        """The series' parameters so far (TE: every echo seen; the extra fields the
        reference checks) and the reference it is checked against."""
        params = header.params
        te = sorted(set(state.params.get("TE") or []) | set(params.get("TE") or []))
        checked = {k: header.extra.get(k) for k in (reference.params if reference else ()) if k not in params}
        state.params = {**params, "TE": te or None, **checked}
        state.reference = dict(reference.params) if reference else None
        state.reference_source = reference.source if reference else None
        state.reference_count = reference.count if reference else 0
        state.updated = time.time()

    def current(self, station: str) -> StationState | None:
        return self.stations.get(station)

    def state(self) -> dict[str, Any]:
        """Every station's state (and its ``channel``), by station name, with the parameters' units."""
        return {
            "stations": {
                name: {**msgspec.to_builtins(s), "channel": station_channel(name)}
                for name, s in sorted(self.stations.items())
            },
            "units": UNITS,
        }
