"""``labdeck dicom ...``: the watch capability's command line.

``labdeck dicom import [--config FILE] FOLDER`` backfills the learned references from
a folder of DICOM files already acquired (each series counted once per parameter set,
as the live watch does). Every file read is recorded, so an import interrupted (Ctrl-C,
a crash) resumes where it stopped when run again; a file changed since is read again.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from labdeck.capability import Command
from labdeck.exceptions import ConfigError, UnreadableFile

__all__ = ["COMMANDS", "import_folder"]


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dicom_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="learn references from a folder of DICOM files (resumable)")
    imp.add_argument("folder", metavar="FOLDER", help="the folder, read recursively")
    imp.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                     help="config file (default: ./labdeck.toml if present)")


def _run(args: argparse.Namespace) -> int:
    from labdeck.config import load_config
    from labdeck.store import Store

    config = load_config(args.config)
    folder = Path(args.folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder")
    store = Store(config.data_dir / "labdeck.sqlite")
    try:
        done, skipped, bad = store.run_sync(lambda db: import_folder(db, folder, sys.stderr))
    except KeyboardInterrupt:
        print("\nlabdeck dicom import: interrupted; run it again to resume", file=sys.stderr)
        return 130
    finally:
        store.close()
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


COMMANDS = (Command("dicom", "DICOM protocol references: import a folder of past series", _configure, _run),)
