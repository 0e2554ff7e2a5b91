"""The compliance report: per project and per session, the share of compliant files per
sequence and every deviation, from the findings the watches stored (``dicom_findings``).

:func:`build` returns plain data (what ``--json`` and the REST API give); :func:`html`
renders it as one standalone page, every value escaped. A file without a reference
counts as not compliant ("no reference"), never as compliant. Functions that take a
connection run through ``Store.run``.
"""

from __future__ import annotations

import html as _html
import json
import sqlite3
import time
from typing import Any

from labdeck.watch.dicom.stations import describe

__all__ = ["MAX_DEVIATIONS", "build", "html"]

MAX_DEVIATIONS = 5000
"""Deviations listed at most per report (``truncated`` says how many more there were)."""


def build(db: sqlite3.Connection, project: str | None = None, session: str | None = None) -> dict[str, Any]:
    """The report of ``project`` (every project if ``None``), of one ``session`` if given."""
    where, args = _where(project, session)
    projects: dict[str, dict[str, Any]] = {}
    for row in db.execute(
        "SELECT project, sequence, COUNT(*), SUM(CASE WHEN conforms = 1 THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN conforms = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN conforms IS NULL THEN 1 ELSE 0 END)"
        f" FROM dicom_findings {where} GROUP BY project, sequence ORDER BY project, sequence",
        args,
    ):
        files, ok = int(row[2]), int(row[3] or 0)
        _project(projects, row[0])["sequences"].append(
            {
                "sequence": row[1],
                "files": files,
                "compliant": ok,
                "deviating": int(row[4] or 0),
                "no_reference": int(row[5] or 0),
                "share": round(ok / files, 4) if files else 0.0,
            }
        )
    for row in db.execute(
        "SELECT project, session, MIN(station), MIN(t), MAX(t), COUNT(*),"
        " SUM(CASE WHEN conforms = 1 THEN 1 ELSE 0 END),"
        f" COUNT(DISTINCT series) FROM dicom_findings {where} GROUP BY project, session ORDER BY MIN(t)",
        args,
    ):
        _project(projects, row[0])["sessions"].append(
            {
                "session": row[1],
                "station": row[2],
                "first": row[3],
                "last": row[4],
                "files": int(row[5]),
                "compliant": int(row[6] or 0),
                "series": int(row[7]),
            }
        )
    deviations = db.execute(
        "SELECT project, session, station, sequence, series, path, t, errors FROM dicom_findings"
        f" {where}{' AND' if where else ' WHERE'} conforms = 0 ORDER BY id LIMIT ?",
        (*args, MAX_DEVIATIONS + 1),
    ).fetchall()
    for row in deviations[:MAX_DEVIATIONS]:
        errors = json.loads(row[7])
        _project(projects, row[0])["deviations"].append(
            {
                "session": row[1],
                "station": row[2],
                "sequence": row[3],
                "series": row[4],
                "path": row[5],
                "t": row[6],
                "errors": errors,
                "messages": describe(errors),
            }
        )
    truncated = 0
    if len(deviations) > MAX_DEVIATIONS:
        truncated = (
            int(
                db.execute(
                    f"SELECT COUNT(*) FROM dicom_findings {where}{' AND' if where else ' WHERE'} conforms = 0", args
                ).fetchone()[0]
            )
            - MAX_DEVIATIONS
        )
    return {
        "project": project,
        "session": session,
        "generated": time.time(),
        "truncated": truncated,
        "projects": list(projects.values()),
    }


def _where(project: str | None, session: str | None) -> tuple[str, tuple[str, ...]]:
    terms, args = [], []
    if project is not None:
        terms.append("project = ?")
        args.append(project)
    if session is not None:
        terms.append("session = ?")
        args.append(session)
    return ("WHERE " + " AND ".join(terms) if terms else ""), tuple(args)


def _project(projects: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    return projects.setdefault(name, {"project": name, "sequences": [], "sessions": [], "deviations": []})


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _table(head: list[str], rows: list[list[Any]], cls: str = "") -> str:
    e = _html.escape
    out = [f'<table class="{e(cls)}"><tr>' + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows]
    return "".join(out) + "</table>"


_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}"
    ".bad td{background:#fff1f1}h2{margin-top:2em}"
)


def html(report: dict[str, Any]) -> str:
    """``report`` (from :func:`build`) as a standalone HTML page."""
    e = _html.escape
    scope = " · ".join(f"{k} {report[k]}" for k in ("project", "session") if report.get(k)) or "every project"
    parts = [
        f"<!doctype html><html lang=en><meta charset=utf-8><title>Compliance report: {e(scope)}</title>"
        f"<style>{_STYLE}</style><h1>Compliance report</h1>"
        f"<p>{e(scope)} · generated {e(_when(report['generated']))}</p>"
    ]
    if not report["projects"]:
        parts.append("<p>No DICOM file has been checked yet.</p>")
    for p in report["projects"]:
        parts.append(f"<h2>Project {e(p['project'])}</h2><h3>Sequences</h3>")
        parts.append(
            _table(
                ["sequence", "files", "compliant", "share", "deviating", "no reference"],
                [
                    [s["sequence"], s["files"], s["compliant"], f"{s['share']:.1%}", s["deviating"], s["no_reference"]]
                    for s in p["sequences"]
                ],
            )
        )
        parts.append("<h3>Sessions</h3>")
        parts.append(
            _table(
                ["session", "station", "first file", "last file", "series", "files", "compliant"],
                [
                    [
                        s["session"],
                        s["station"],
                        _when(s["first"]),
                        _when(s["last"]),
                        s["series"],
                        s["files"],
                        s["compliant"],
                    ]
                    for s in p["sessions"]
                ],
            )
        )
        parts.append(f"<h3>Deviations ({len(p['deviations'])})</h3>")
        parts.append(
            _table(
                ["when", "session", "station", "sequence", "series", "file", "what"],
                [
                    [
                        _when(d["t"]),
                        d["session"],
                        d["station"],
                        d["sequence"],
                        d["series"],
                        d["path"],
                        "; ".join(d["messages"]),
                    ]
                    for d in p["deviations"]
                ],
                "bad",
            )
        )
    if report.get("truncated"):
        parts.append(f"<p>{report['truncated']} more deviations are not listed.</p>")
    return "".join(parts) + "</html>\n"
