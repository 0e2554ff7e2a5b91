"""Reference protocols in SQLite: learned from the series seen, or pinned by an operator.

Learning counts each *series* once per parameter set (an import run twice counts
nothing twice), with TE kept as the set of echo times its series had. The reference
for a project and sequence is the pinned one if there is one, else the most frequent
learned set. Functions take the store's connection: call them through ``Store.run``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from labdeck.watch.dicom.stations import Reference

__all__ = ["count_series", "learned", "list_refs", "param_key", "pin", "pin_many", "projects", "reference", "unpin"]


def param_key(params: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in params.items() if k != "TE"}, sort_keys=True, separators=(",", ":"))


def count_series(db: sqlite3.Connection, project: str, sequence: str, series_uid: str, params: dict[str, Any]) -> None:
    """Count ``series_uid`` (once) towards its parameter set, and merge its echo times in."""
    key = param_key(params)
    db.execute("BEGIN")
    try:
        new = db.execute(
            "INSERT OR IGNORE INTO dicom_series (series_uid, key) VALUES (?, ?)", (series_uid, key)
        ).rowcount
        row = db.execute(
            "SELECT params FROM dicom_history WHERE project = ? AND sequence = ? AND key = ?", (project, sequence, key)
        ).fetchone()
        merged = dict(params)
        if row is not None:
            old = json.loads(row[0])
            merged["TE"] = sorted(set(old.get("TE") or []) | set(params.get("TE") or [])) or None
        db.execute(
            "INSERT INTO dicom_history (project, sequence, key, params, count, last) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (project, sequence, key) DO UPDATE SET params = excluded.params,"
            " count = dicom_history.count + ?, last = excluded.last",
            (project, sequence, key, json.dumps(merged), int(new), time.time(), int(new)),
        )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def learned(db: sqlite3.Connection, project: str, sequence: str) -> Reference | None:
    """The most frequent parameter set of ``project`` x ``sequence`` (latest on a tie)."""
    row = db.execute(
        "SELECT params, count FROM dicom_history WHERE project = ? AND sequence = ? AND count > 0"
        " ORDER BY count DESC, last DESC LIMIT 1",
        (project, sequence),
    ).fetchone()
    return Reference(params=json.loads(row[0]), source="learned", count=row[1]) if row else None


def reference(db: sqlite3.Connection, project: str, sequence: str, description: str = "") -> Reference | None:
    """The reference ``project`` x ``sequence`` is checked against: pinned, else learned, else none.

    ``description`` (the series' SeriesDescription) is tried after ``sequence`` (its
    ProtocolName) for a pinned reference: an acquisition of an imported schema names
    either.
    """
    for name in (sequence, description) if description and description != sequence else (sequence,):
        row = db.execute("SELECT params FROM dicom_refs WHERE project = ? AND sequence = ?", (project, name)).fetchone()
        if row is not None:
            return Reference(params=json.loads(row[0]), source="pinned")
    return learned(db, project, sequence)


def pin(db: sqlite3.Connection, project: str, sequence: str, params: dict[str, Any], by: str | None) -> None:
    """Make ``params`` the reference of ``project`` x ``sequence``."""
    db.execute(
        "INSERT INTO dicom_refs (project, sequence, params, pinned_by, t) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (project, sequence) DO UPDATE SET params = excluded.params,"
        " pinned_by = excluded.pinned_by, t = excluded.t",
        (project, sequence, json.dumps(params), by, time.time()),
    )


def pin_many(db: sqlite3.Connection, project: str, refs: list[tuple[str, dict[str, Any]]], by: str | None) -> None:
    """Pin every ``(sequence, params)`` of ``refs`` at once (all or none)."""
    db.execute("BEGIN")
    try:
        for sequence, params in refs:
            pin(db, project, sequence, params, by)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def projects(db: sqlite3.Connection) -> list[str]:
    """Every project with a learned or pinned reference."""
    return [
        r[0]
        for r in db.execute(
            "SELECT project FROM dicom_history UNION SELECT project FROM dicom_refs ORDER BY 1"
        ).fetchall()
    ]


def unpin(db: sqlite3.Connection, project: str, sequence: str) -> bool:
    """Drop the pinned reference; ``False`` if there was none."""
    return db.execute("DELETE FROM dicom_refs WHERE project = ? AND sequence = ?", (project, sequence)).rowcount > 0


def list_refs(db: sqlite3.Connection, project: str | None = None) -> list[dict[str, Any]]:
    """Every project x sequence known, with its reference and where it came from."""
    where, args = ("WHERE project = ?", (project,)) if project else ("", ())
    pairs = db.execute(
        f"SELECT project, sequence FROM dicom_history {where} UNION "
        f"SELECT project, sequence FROM dicom_refs {where} ORDER BY 1, 2",
        args * 2,
    ).fetchall()
    found = []
    for proj, seq in pairs:
        ref = reference(db, proj, seq)
        if ref is not None:
            found.append(
                {"project": proj, "sequence": seq, "source": ref.source, "count": ref.count, "params": ref.params}
            )
    return found
