"""``labdeck dicom ...``: the watch capability's command line.

``labdeck dicom import [--config FILE] FOLDER`` backfills the learned references from
a folder of DICOM files already acquired (each series counted once per parameter set,
as the live watch does). Every file read is recorded, so an import interrupted (Ctrl-C,
a crash) resumes where it stopped when run again; a file changed since is read again.

``labdeck dicom refs import SCHEMA.json --project P [--map ACQUISITION=SEQUENCE ...]``
pins the references a dicompare JSON schema states; ``labdeck dicom refs export
[--project P] FILE.json`` writes a project's references as one (``-`` for stdout).
``labdeck dicom report [--project P] [--session S] [--json]`` prints the compliance
report (HTML, or JSON) of what the watches have checked.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from labdeck.capability import Command
from labdeck.exceptions import BadRequest, ConfigError, UnreadableFile

if TYPE_CHECKING:
    from labdeck.config import Config
    from labdeck.store import Store

__all__ = ["COMMANDS", "export_refs", "import_folder", "import_refs"]


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="config file (default: ./labdeck.toml if present)"
    )


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dicom_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="learn references from a folder of DICOM files (resumable)")
    imp.add_argument("folder", metavar="FOLDER", help="the folder, read recursively")
    _config_option(imp)
    refs = sub.add_parser("refs", help="reference protocols as dicompare JSON schemas")
    refs_sub = refs.add_subparsers(dest="refs_command", metavar="ACTION", required=True)
    rimp = refs_sub.add_parser("import", help="pin the references a dicompare schema states")
    rimp.add_argument("schema", metavar="SCHEMA.json", help="the dicompare schema")
    rimp.add_argument("--project", required=True, help="the project (StudyDescription) the references are for")
    rimp.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="ACQUISITION=SEQUENCE",
        help="check the schema's ACQUISITION against SEQUENCE (default: the sequence of the same name)",
    )
    _config_option(rimp)
    rexp = refs_sub.add_parser("export", help="write a project's references as a dicompare schema")
    rexp.add_argument("file", metavar="FILE.json", help="where to write it; - for stdout")
    rexp.add_argument("--project", help="the project (needed when there is more than one)")
    _config_option(rexp)
    rep = sub.add_parser("report", help="the compliance report of the files checked (HTML, or JSON)")
    rep.add_argument("--project", help="only this project")
    rep.add_argument("--session", help="only this session (its id, as the report lists it)")
    rep.add_argument("--json", action="store_true", help="JSON instead of HTML")
    _config_option(rep)


def _run(args: argparse.Namespace) -> int:
    from labdeck.config import load_config
    from labdeck.store import Store, store_target

    config = load_config(args.config)
    store = Store(store_target(config))
    try:
        if args.dicom_command == "refs":
            return _refs(args, config, store)
        if args.dicom_command == "report":
            return _report(args, store)
        return _import(args, store)
    finally:
        store.close()


def _refs(args: argparse.Namespace, config: Config, store: Store) -> int:
    from labdeck.watch.config import tolerances_of

    if args.refs_command == "import":
        try:
            schema = json.loads(Path(args.schema).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{args.schema}: cannot read a JSON schema: {exc}") from None
        mapping = dict(_pair(m) for m in args.map)
        found, notes = store.run_sync(
            lambda db: import_refs(db, args.project, schema, mapping, f"schema {Path(args.schema).name}")
        )
        for line in notes:
            print(f"  note: {line}", file=sys.stderr)
        print(f"pinned {len(found)} references for {args.project}: {', '.join(found) or 'none'}")
        return 0
    schema, notes = store.run_sync(
        lambda db: export_refs(db, args.project, tolerances_of(config.sections.get("watch") or {}))
    )
    text = json.dumps(schema, indent=2) + "\n"
    if args.file == "-":
        sys.stdout.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
        print(f"wrote {len(schema['acquisitions'])} references to {args.file}")
    for line in notes:
        print(f"  note: {line}", file=sys.stderr)
    return 0


def _pair(text: str) -> tuple[str, str]:
    acquisition, sep, sequence = text.partition("=")
    if not sep or not acquisition or not sequence:
        raise ConfigError(f"--map {text!r}: expected ACQUISITION=SEQUENCE")
    return acquisition, sequence


def import_refs(
    db: sqlite3.Connection, project: str, schema: Any, mapping: dict[str, str], by: str | None
) -> tuple[list[str], list[str]]:
    """Pin what ``schema`` states for ``project``; returns the sequences pinned and notes
    on what was left out (each prefixed with its acquisition).

    Raises:
        BadRequest: not a dicompare schema, or ``mapping`` names an unknown acquisition.
    """
    from labdeck.watch.dicom import protocols
    from labdeck.watch.dicom import schema as dicompare

    found, notes = dicompare.import_schema(schema, mapping)
    usable = [f for f in found if f.params]
    protocols.pin_many(db, project, [(f.sequence, f.params) for f in usable], by)
    for f in found:
        notes += [f"{f.acquisition}: {why}" for why in f.left_out]
        if not f.params:
            notes.append(f"{f.acquisition}: nothing labdeck can check; not pinned")
    return [f.sequence for f in usable], notes


def export_refs(
    db: sqlite3.Connection, project: str | None, tolerances: dict[str, float]
) -> tuple[dict[str, Any], list[str]]:
    """``project``'s references as a dicompare schema, and notes on what it cannot state.

    Raises:
        BadRequest: no project given and there is not exactly one, or it has no reference.
    """
    from labdeck.watch.dicom import protocols
    from labdeck.watch.dicom import schema as dicompare

    if project is None:
        known = protocols.projects(db)
        if len(known) != 1:
            raise BadRequest("name the project (--project): " + (", ".join(known) if known else "none is known yet"))
        project = known[0]
    refs = protocols.list_refs(db, project)
    if not refs:
        raise BadRequest(f"project {project!r} has no reference")
    return dicompare.export_schema(project, refs, tolerances)


def _report(args: argparse.Namespace, store: Store) -> int:
    from labdeck.watch.dicom import report

    found = store.run_sync(lambda db: report.build(db, args.project, args.session))
    sys.stdout.write(json.dumps(found, indent=2) + "\n" if args.json else report.html(found))
    return 0


def _import(args: argparse.Namespace, store: Store) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder")
    try:
        done, skipped, bad = store.run_sync(lambda db: import_folder(db, folder, sys.stderr))
    except KeyboardInterrupt:
        print("\nlabdeck dicom import: interrupted; run it again to resume", file=sys.stderr)
        return 130
    print(f"imported {done} files ({skipped} already imported, {bad} not DICOM or unreadable)")
    return 0


def _files(folder: Path) -> Iterator[Path]:
    for top, dirs, names in os.walk(folder):  # symlinks to folders are not followed
        dirs.sort()
        for name in sorted(names):
            path = Path(top) / name
            if not name.startswith(".") and not path.is_symlink():
                yield path


def import_folder(db: sqlite3.Connection, folder: Path, progress: TextIO | None = None) -> tuple[int, int, int]:
    """Count every DICOM file under ``folder`` into the learned references.

    Returns:
        ``(imported, already imported, unreadable)`` file counts.
    """
    from labdeck.watch.dicom import protocols
    from labdeck.watch.dicom.headers import read_header

    total = sum(1 for _ in _files(folder))
    done = skipped = bad = 0
    shown = 0.0
    for i, path in enumerate(_files(folder), 1):
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if db.execute("SELECT 1 FROM dicom_imported WHERE path = ? AND size = ? AND mtime_ns = ?", key).fetchone():
            skipped += 1
        else:
            try:
                header = read_header(path)
                protocols.count_series(db, header.project, header.sequence, header.series_uid, header.params)
                done += 1
            except UnreadableFile:
                bad += 1
            db.execute("INSERT OR REPLACE INTO dicom_imported (path, size, mtime_ns) VALUES (?, ?, ?)", key)
        if progress is not None and (time.monotonic() - shown > 0.2 or i == total):
            shown = time.monotonic()
            width = 30
            filled = width * i // max(total, 1)
            progress.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {i}/{total} files")
            progress.flush()
    if progress is not None:
        progress.write("\n")
    return done, skipped, bad


COMMANDS = (
    Command(
        "dicom", "DICOM protocol references (a folder of past series, dicompare schemas) and reports", _configure, _run
    ),
)
