"""References as dicompare JSON schemas, both ways: pure, dicts in and dicts out.

A dicompare schema (https://github.com/astewartau/dicompare, ``metaschema.json``) is
``{"name", "acquisitions": {name: {"fields": [...], "series": [...], "rules": [...]}}}``;
a field is ``{"field": DICOM keyword, "tag", "value", "tolerance", "min", "max",
"contains", "contains_any", "contains_all", "severity"}``. Each acquisition becomes the
reference of one sequence.

Importing keeps what labdeck can check exactly as dicompare checks it:

* the fields of :data:`PARAM_OF` become labdeck's parameters (``RepetitionTime`` is
  ``TR``...), every other one of :data:`~labdeck.watch.dicom.headers.EXTRA_FIELDS`
  is checked under its keyword; a field neither names is left out, and said so;
* each constraint is kept as a constraint object (see
  :mod:`~labdeck.watch.dicom.stations`), so tolerances are the schema's;
* graded fields (``errorMin``, ``errorMax``, ``errorTolerance``) are checked at their
  error edge: what dicompare calls a failure is a mismatch, its warnings are not;
* ``severity = "warning"`` fields (the reference's values, not requirements), series
  constraints and Python rules are left out, and said so: labdeck never runs a schema's code.

Exporting writes each parameter with the tolerance labdeck checks it with; the ones
dicompare has no field for (Matrix, iPAT, FoV, SequenceFile, Orientation) are said so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from labdeck.exceptions import BadRequest
from labdeck.watch.dicom.headers import EXTRA_FIELDS
from labdeck.watch.dicom.stations import CONSTRAINT_KEYS, is_constraint

__all__ = ["FIELD_OF", "PARAM_OF", "Imported", "export_schema", "import_schema"]

FIELD_OF: dict[str, str] = {
    "TR": "RepetitionTime",
    "TE": "EchoTime",
    "FlipAngle": "FlipAngle",
    "PixelSpacing": "PixelSpacing",
    "SliceThickness": "SliceThickness",
    "Bandwidth": "PixelBandwidth",
    "SequenceName": "SequenceName",
    "PhaseEncoding": "InPlanePhaseEncodingDirection",
}
"""labdeck's parameter -> the DICOM keyword dicompare names it by."""
PARAM_OF: dict[str, str] = {field: param for param, field in FIELD_OF.items()}

MAX_ACQUISITIONS = 1000
MAX_FIELDS = 1000
_GRADED = {"errorMin": "min", "errorMax": "max", "errorTolerance": "tolerance"}


class Imported(msgspec.Struct, kw_only=True):
    """One acquisition of a schema, as the reference of a sequence."""

    acquisition: str
    sequence: str
    params: dict[str, Any]
    left_out: list[str]
    """Why each field or constraint of the acquisition is not checked."""


def _fail(message: str) -> BadRequest:
    return BadRequest(f"not a dicompare schema: {message}")


def import_schema(schema: Any, mapping: Mapping[str, str] | None = None) -> tuple[list[Imported], list[str]]:
    """The references a dicompare schema states, and notes on what it has beyond them.

    Args:
        schema: the decoded JSON.
        mapping: acquisition name -> sequence; an acquisition not in it is the
            sequence of the same name.

    Raises:
        BadRequest: ``schema`` is not a dicompare schema, or names an acquisition
            ``mapping`` maps that is not in it.
    """
    mapping = dict(mapping or {})
    if not isinstance(schema, dict) or not isinstance(schema.get("acquisitions"), dict):
        raise _fail("an object with 'acquisitions' is required")
    acquisitions = schema["acquisitions"]
    if len(acquisitions) > MAX_ACQUISITIONS:
        raise _fail(f"more than {MAX_ACQUISITIONS} acquisitions")
    unknown = sorted(set(mapping) - set(acquisitions))
    if unknown:
        raise BadRequest(f"--map names acquisitions the schema does not have: {', '.join(unknown)}")
    notes = [
        f"protocol rule {r.get('name') or r.get('id') or '?'!s}: not run (labdeck never runs a schema's code)"
        for r in schema.get("rules") or []
        if isinstance(r, dict)
    ]
    found = [_acquisition(str(name), acq, mapping.get(str(name), str(name))) for name, acq in acquisitions.items()]
    return found, notes


def _acquisition(name: str, acq: Any, sequence: str) -> Imported:
    if not isinstance(acq, dict):
        raise _fail(f"acquisition {name!r} is not an object")
    fields = acq.get("fields") or []
    if not isinstance(fields, list) or len(fields) > MAX_FIELDS:
        raise _fail(f"acquisition {name!r}: 'fields' must be a list of at most {MAX_FIELDS}")
    params: dict[str, Any] = {}
    left_out: list[str] = []
    for fdef in fields:
        if not isinstance(fdef, dict) or not isinstance(fdef.get("field"), str):
            raise _fail(f"acquisition {name!r}: every field needs a 'field' name")
        key, constraint, why = _field(fdef)
        if why:
            left_out.append(f"{fdef['field']}: {why}")
        if key is not None and constraint:
            params[key] = constraint
    for series in acq.get("series") or []:
        label = series.get("name", "?") if isinstance(series, dict) else "?"
        left_out.append(f"series {label}: series constraints are not checked")
    for rule in acq.get("rules") or []:
        label = (rule.get("name") or rule.get("id") or "?") if isinstance(rule, dict) else "?"
        left_out.append(f"rule {label}: not run (labdeck never runs a schema's code)")
    return Imported(acquisition=name, sequence=sequence, params=params, left_out=left_out)


def _field(fdef: dict[str, Any]) -> tuple[str | None, dict[str, Any], str]:
    """``(parameter, constraint, why something is left out)`` of one field."""
    field = fdef["field"]
    if fdef.get("severity") == "warning":
        return None, {}, "a warning-severity field (the reference's value, not a requirement)"
    key = PARAM_OF.get(field) or (field if field in EXTRA_FIELDS else None)
    if key is None:
        return None, {}, "labdeck does not read this field"
    constraint = {k: fdef[k] for k in CONSTRAINT_KEYS if fdef.get(k) is not None}
    why = ""
    graded = {_GRADED[k]: fdef[k] for k in _GRADED if fdef.get(k) is not None}
    if graded:
        constraint.update(graded)
        why = "graded: checked at its error edge, its warnings are not mismatches"
    if not constraint:
        return None, {}, "no constraint"
    if not _json_scalars(constraint.values()):
        return None, {}, "a constraint of an unexpected type"
    return key, constraint, why


def _json_scalars(values: Iterable[Any]) -> bool:
    for v in values:
        if isinstance(v, list):
            if not _json_scalars(v):
                return False
        elif not isinstance(v, str | int | float | bool):
            return False
    return True


def export_schema(
    name: str, references: Iterable[Mapping[str, Any]], tolerances: Mapping[str, float]
) -> tuple[dict[str, Any], list[str]]:
    """A dicompare schema of ``references`` (``{"sequence", "params"}`` each), and notes
    on the parameters it cannot state."""
    from pydicom.datadict import tag_for_keyword

    acquisitions: dict[str, Any] = {}
    notes: list[str] = []
    for ref in references:
        fields = []
        for param, value in ref["params"].items():
            field = FIELD_OF.get(param) or (param if param in EXTRA_FIELDS else None)
            if value is None:
                continue
            if field is None:
                notes.append(f"{ref['sequence']}: {param} has no dicompare field; left out")
                continue
            tag = tag_for_keyword(field)
            entry: dict[str, Any] = {"field": field, "tag": f"{tag >> 16:04X},{tag & 0xFFFF:04X}" if tag else "custom"}
            entry.update(_constraint(param, value, tolerances.get(param, 0.0)))
            fields.append(entry)
        acquisitions[ref["sequence"]] = {
            "description": f"labdeck reference ({ref.get('source', 'pinned')})",
            "fields": fields,
            "series": [],
            "rules": [],
        }
    schema = {
        "name": name,
        "description": "Reference protocols exported by labdeck",
        "version": "1.0",
        "authors": ["labdeck"],
        "acquisitions": acquisitions,
    }
    return schema, notes


def _constraint(param: str, value: Any, tol: float) -> dict[str, Any]:
    if is_constraint(value):
        return dict(value)
    if param == "PhaseEncoding" and isinstance(value, str):
        value = value.rstrip("+-")  # DICOM states the direction without CSA's sign
    if param == "TE" and isinstance(value, list) and len(value) == 1:
        value = value[0]
    numbers = all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in (value if isinstance(value, list) else [value])
    )
    if numbers and tol > 0:
        return {"value": value, "tolerance": tol}
    return {"value": value}
