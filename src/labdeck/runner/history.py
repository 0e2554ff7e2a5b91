"""Run history in the store: the queries, as functions of a SQLite connection.

Every function here runs on the store's thread (``await store.run(lambda db: f(db, ...))``)
and either reads or writes in one transaction. Values that are JSON in the database
(``command``, ``config``, result values) come back decoded.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

__all__ = [
    "RUN_FIELDS",
    "ClearPoints",
    "Edit",
    "ReplacePoints",
    "RunFilter",
    "Unfinished",
    "add_note",
    "apply_edit",
    "clear_process",
    "create_run",
    "delete_run",
    "finish_run",
    "insert_lines",
    "insert_points",
    "list_runs",
    "log_lines",
    "mark_interrupted",
    "mark_orphaned",
    "points",
    "prune_runs",
    "run_info",
    "series_labels",
    "set_labels",
    "set_process",
    "set_result",
    "set_state",
    "unfinished_runs",
]

RUN_FIELDS = ("id", "script", "user", "state", "started", "ended", "exit_code", "error")
"""The columns of a run as :meth:`Runner.history` and ``GET /api/runs`` list it."""

Line = tuple[int, float, str, str]
"""``(n, t, stream, text)``."""
Point = tuple[str, float | None, float | None]
"""``(series, x, y)``."""


class Unfinished(NamedTuple):
    """A run a previous server left alive, or whose process it had not yet seen gone."""

    id: int
    script: str
    user: str | None
    state: str
    started: float
    pid: int | None
    pgid: int | None
    process_start: str | None


class _Tx:
    """``with _Tx(db):`` one write transaction (the store runs in autocommit mode)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def create_run(db: sqlite3.Connection, script: str, command: Sequence[str], user: str | None,
               config: dict[str, Any], state: str) -> int:
    """A new run row; returns its id."""
    cur = db.execute(
        "INSERT INTO runs (script, command, user, state, config, started) VALUES (?, ?, ?, ?, ?, ?)",
        (script, json.dumps(list(command)), user, state, json.dumps(config), time.time()),
    )
    return int(cur.lastrowid or 0)


def set_state(db: sqlite3.Connection, run: int, state: str) -> None:
    db.execute("UPDATE runs SET state = ? WHERE id = ?", (state, run))


def set_process(db: sqlite3.Connection, run: int, pid: int, pgid: int, start: str | None) -> None:
    """Record the run's live process: its pid, process group and :func:`~labdeck.runner.proc.start_mark`."""
    db.execute("UPDATE runs SET pid = ?, pgid = ?, process_start = ? WHERE id = ?", (pid, pgid, start, run))


def clear_process(db: sqlite3.Connection, run: int) -> None:
    """The run's process group is gone: nothing is left for a later server to find."""
    db.execute("UPDATE runs SET pid = NULL, pgid = NULL, process_start = NULL WHERE id = ?", (run,))


def finish_run(db: sqlite3.Connection, run: int, state: str, ended: float, exit_code: int | None,
               error: str | None) -> None:
    """Record the run's end; its process group is gone by then (the runner killed what was left)."""
    db.execute(
        "UPDATE runs SET state = ?, ended = ?, exit_code = ?, error = ?, pid = NULL, pgid = NULL, "
        "process_start = NULL WHERE id = ?",
        (state, ended, exit_code, error, run),
    )


def unfinished_runs(db: sqlite3.Connection, alive: Iterable[str]) -> list[Unfinished]:
    """Runs in one of the ``alive`` states, or with a process recorded, oldest first."""
    states = list(alive)
    marks = ",".join("?" * len(states))
    rows = db.execute(f"SELECT id, script, user, state, started, pid, pgid, process_start FROM runs "
                      f"WHERE state IN ({marks}) OR pgid IS NOT NULL ORDER BY id", states)
    return [Unfinished(*r) for r in rows]


def mark_interrupted(db: sqlite3.Connection, runs: Iterable[int], alive: Iterable[str], now: float) -> None:
    """Runs a previous server left behind, whose processes are gone: those in an ``alive``
    state become ``interrupted``, and none keeps a process record."""
    states = list(alive)
    marks = ",".join("?" * len(states))
    with _Tx(db):
        for run in runs:
            db.execute(
                f"UPDATE runs SET state = 'interrupted', ended = COALESCE(ended, ?), "
                f"error = COALESCE(error, 'the server stopped while the run was alive') "
                f"WHERE id = ? AND state IN ({marks})",
                (now, run, *states),
            )
            clear_process(db, run)


def mark_orphaned(db: sqlite3.Connection, run: int, state: str, now: float, error: str) -> None:
    """A run whose process outlived the server that started it: ``state`` with ``error``.

    The process record stays until :func:`clear_process`: should this server stop before
    the group is gone, the next one finds it again.
    """
    db.execute("UPDATE runs SET state = ?, ended = COALESCE(ended, ?), error = ? WHERE id = ?",
               (state, now, error, run))


def add_note(db: sqlite3.Connection, run: int, t: float, text: str) -> int:
    """Append a ``labdeck`` line after the run's last one; its number ``n``."""
    with _Tx(db):
        n = int(db.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM run_log WHERE run = ?", (run,)).fetchone()[0])
        db.execute("INSERT INTO run_log (run, n, t, stream, text) VALUES (?, ?, ?, 'labdeck', ?)", (run, n, t, text))
    return n


def insert_lines(db: sqlite3.Connection, run: int, lines: Sequence[Line]) -> None:
    with _Tx(db):
        db.executemany("INSERT INTO run_log (run, n, t, stream, text) VALUES (?, ?, ?, ?, ?)",
                       [(run, *line) for line in lines])


def insert_points(db: sqlite3.Connection, run: int, pts: Sequence[Point]) -> None:
    with _Tx(db):
        db.executemany("INSERT INTO run_points (run, series, x, y) VALUES (?, ?, ?, ?)",
                       [(run, *p) for p in pts])


class ReplacePoints(NamedTuple):
    """Points that take the place of the series' points at the same ``x`` (added where it has none)."""

    points: list[Point]


class ClearPoints(NamedTuple):
    """Drop the points of ``series`` (``None``: of every series of the run)."""

    series: str | None


Edit: TypeAlias = ReplacePoints | ClearPoints


def apply_edit(db: sqlite3.Connection, run: int, edit: Edit) -> None:
    """Apply ``edit`` to the stored points of ``run``; a replaced point keeps its place in order."""
    with _Tx(db):
        if isinstance(edit, ClearPoints):
            if edit.series is None:
                db.execute("DELETE FROM run_points WHERE run = ?", (run,))
            else:
                db.execute("DELETE FROM run_points WHERE run = ? AND series = ?", (run, edit.series))
            return
        for series, x, y in edit.points:
            found = x is not None and db.execute(
                "UPDATE run_points SET y = ? WHERE run = ? AND series = ? AND x = ?", (y, run, series, x)).rowcount
            if not found:
                db.execute("INSERT INTO run_points (run, series, x, y) VALUES (?, ?, ?, ?)", (run, series, x, y))


def set_labels(db: sqlite3.Connection, run: int, series: str, labels: dict[str, str]) -> None:
    """How ``series`` of ``run`` is drawn: its ``unit``, ``xlabel`` and ``chart``."""
    with _Tx(db):
        db.execute("INSERT INTO run_series (run, series, unit, xlabel, chart) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT (run, series) DO UPDATE SET unit = excluded.unit, xlabel = excluded.xlabel, "
                   "chart = excluded.chart",
                   (run, series, labels.get("unit", ""), labels.get("xlabel", ""), labels.get("chart", "")))


def series_labels(db: sqlite3.Connection, run: int) -> dict[str, dict[str, str]]:
    """``{series: {unit, xlabel, chart}}`` of the series of ``run`` that were given labels."""
    rows = db.execute("SELECT series, unit, xlabel, chart FROM run_series WHERE run = ?", (run,)).fetchall()
    return {r[0]: {"unit": r[1], "xlabel": r[2], "chart": r[3]} for r in rows}


def set_result(db: sqlite3.Connection, run: int, key: str, value: Any) -> None:
    db.execute("INSERT OR REPLACE INTO run_results (run, key, value) VALUES (?, ?, ?)",
               (run, key, json.dumps(value)))


def _row(r: sqlite3.Row) -> dict[str, Any]:
    return {k: r[k] for k in RUN_FIELDS}


@dataclass(frozen=True)
class RunFilter:
    """Which runs a history page lists: every field that is not ``None`` must hold."""

    script: str | None = None
    state: str | None = None
    user: str | None = None
    since: float | None = None  # started at or after, epoch seconds
    until: float | None = None  # started before

    def where(self) -> tuple[str, list[Any]]:
        """The SQL ``WHERE`` clause (or ``""``) and its parameters."""
        terms: list[str] = []
        params: list[Any] = []
        for column, value in (("script", self.script), ("state", self.state), ("user", self.user)):
            if value is not None:
                terms.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            terms.append("started >= ?")
            params.append(self.since)
        if self.until is not None:
            terms.append("started < ?")
            params.append(self.until)
        return (f"WHERE {' AND '.join(terms)}" if terms else ""), params


def list_runs(db: sqlite3.Connection, limit: int, offset: int, only: RunFilter | None = None) -> dict[str, Any]:
    """``{"runs": [...newest first], "total": n, "scripts": [...], "users": [...]}``: the runs
    ``only`` lets through, their count, and every script and user of the whole history
    (what a filter can choose from)."""
    where, params = (only or RunFilter()).where()
    rows = db.execute(f"SELECT {', '.join(RUN_FIELDS)} FROM runs {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                      (*params, limit, offset)).fetchall()
    total = db.execute(f"SELECT COUNT(*) FROM runs {where}", params).fetchone()[0]
    scripts = [s for (s,) in db.execute("SELECT DISTINCT script FROM runs ORDER BY script")]
    users = [u for (u,) in db.execute("SELECT DISTINCT user FROM runs WHERE user IS NOT NULL ORDER BY user")]
    return {"runs": [_row(r) for r in rows], "total": total, "scripts": scripts, "users": users}


def run_info(db: sqlite3.Connection, run: int) -> dict[str, Any] | None:
    """The run's row, its command and config, its results, and its series names; ``None`` if unknown."""
    r = db.execute("SELECT * FROM runs WHERE id = ?", (run,)).fetchone()
    if r is None:
        return None
    info = _row(r)
    info["command"] = json.loads(r["command"])
    info["config"] = json.loads(r["config"])
    info["results"] = {k: json.loads(v) for k, v in
                       db.execute("SELECT key, value FROM run_results WHERE run = ? ORDER BY key", (run,))}
    info["series"] = [s for (s,) in db.execute("SELECT DISTINCT series FROM run_points WHERE run = ?", (run,))]
    info["lines"] = db.execute("SELECT COUNT(*) FROM run_log WHERE run = ?", (run,)).fetchone()[0]
    return info


def log_lines(db: sqlite3.Connection, run: int, after: int, limit: int) -> list[dict[str, Any]]:
    """Lines with ``n > after``, in order, at most ``limit``."""
    rows = db.execute("SELECT n, t, stream, text FROM run_log WHERE run = ? AND n > ? ORDER BY n LIMIT ?",
                      (run, after, limit))
    return [{"n": n, "t": t, "stream": s, "text": text} for n, t, s, text in rows]


def points(db: sqlite3.Connection, run: int, series: str | None = None) -> Iterator[Point]:
    """Every point of the run (or of one series), in the order it was plotted."""
    if series is None:
        return iter(db.execute("SELECT series, x, y FROM run_points WHERE run = ? ORDER BY rowid", (run,)).fetchall())
    return iter(db.execute("SELECT series, x, y FROM run_points WHERE run = ? AND series = ? ORDER BY rowid",
                           (run, series)).fetchall())


def delete_run(db: sqlite3.Connection, run: int) -> bool:
    """Delete a run and everything it left; ``False`` if there was no such run."""
    with _Tx(db):
        return db.execute("DELETE FROM runs WHERE id = ?", (run,)).rowcount > 0


def prune_runs(db: sqlite3.Connection, keep: int, protect: int | None) -> list[int]:
    """Delete all but the newest ``keep`` runs (never ``protect``, the live one); the ids deleted."""
    with _Tx(db):
        ids = [i for (i,) in db.execute("SELECT id FROM runs ORDER BY id DESC LIMIT -1 OFFSET ?", (keep,))
               if i != protect]
        db.executemany("DELETE FROM runs WHERE id = ?", [(i,) for i in ids])
    return ids
