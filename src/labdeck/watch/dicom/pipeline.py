"""From a landed file to a finding on ``dicom/<station>``, for every file, in order.

Headers are read on one worker thread (the event loop never waits on a disk read),
one file at a time in arrival order, so the findings of a station keep the order its
files landed in. A file that is not DICOM, is empty or truncated, or vanished, is one
``problem`` on its watch's channel; the pipeline goes on with the next.

Every finding is also stored (``dicom_findings``, for the compliance report), written
in batches after the loop turn that published it, never before the browser hears of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from labdeck.exceptions import UnreadableFile
from labdeck.types import Publish
from labdeck.watch.dicom import protocols
from labdeck.watch.dicom.headers import EXTRA_FIELDS, Header, read_header
from labdeck.watch.dicom.stations import Finding, Reference, Stations, station_channel

if TYPE_CHECKING:
    from labdeck.store import Store

__all__ = ["DicomPipeline", "station_channel"]


def _insert(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    with db:  # one transaction for the batch
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO dicom_findings (t, watch, station, project, session, sequence, series, path,"
            " conforms, errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


class DicomPipeline:
    """Reads, checks and publishes the DICOM files of every ``dicom`` watch.

    Args:
        stations: the station state, updated by every file.
        publish: the server's publish.
        store: returns the open store (it opens only once the server starts).
    """

    def __init__(
        self, stations: Stations, publish: Publish, store: Callable[[], Store], log: logging.Logger | None = None
    ) -> None:
        self.stations, self.publish, self.store = stations, publish, store
        self.log = log or logging.getLogger(__name__)
        self._queue: asyncio.Queue[tuple[str, str, Path, bool]] = asyncio.Queue()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labdeck-dicom")
        self._refs: OrderedDict[str, Reference | None] = OrderedDict()
        self._counted: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self._unsaved: list[tuple[Any, ...]] = []
        self._saving: asyncio.Task[None] | None = None
        self.checked = 0
        self.extras: frozenset[str] = frozenset()
        """The :data:`~labdeck.watch.dicom.headers.EXTRA_FIELDS` a reference has checked: read from every file."""

    def landed(self, watch: str, path: str, abs_path: Path, learn: bool = True) -> None:
        """Queue one landed file of ``watch`` (``path`` relative to its root); ``learn``:
        count its series into the learned references."""
        self._queue.put_nowait((watch, path, abs_path, learn))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dicom-pipeline")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._saving is not None:
            await self._saving
        await self._save()
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            watch, path, abs_path, learn = await self._queue.get()
            try:
                header = await loop.run_in_executor(self._pool, read_header, abs_path, self.extras)
                needed = self._extras_of(await self.reference_for(header))
                if not needed <= self.extras:  # a reference checks more: read them, from now on
                    self.extras |= needed
                    header = await loop.run_in_executor(self._pool, read_header, abs_path, self.extras)
            except UnreadableFile as exc:
                self.log.info("watch %s: %s: %s", watch, path, exc.message)
                self.publish(
                    f"files/{watch}", {"event": "problem", "watch": watch, "path": path, "reason": exc.message}
                )
                continue
            try:
                await self.check(watch, path, header, learn)
            except Exception:  # one bad file must never end the pipeline: logged, next file
                self.log.exception("watch %s: checking %s failed", watch, path)

    @staticmethod
    def _extras_of(reference: Reference | None) -> frozenset[str]:
        return frozenset(k for k in reference.params if k in EXTRA_FIELDS) if reference else frozenset()

    async def check(self, watch: str, path: str, header: Header, learn: bool) -> Finding:
        """Check one file's header, publish and store the finding; returns it."""
        reference = await self.reference_for(header)
        finding = self.stations.check(header, path, reference)
        self.checked += 1
        self.publish(station_channel(header.station), msgspec.to_builtins(finding))
        self._record(watch, finding)
        if learn:
            await self._count(header)
        return finding

    def _record(self, watch: str, f: Finding) -> None:
        self._unsaved.append(
            (
                f.t,
                watch,
                f.station,
                f.project,
                f.session,
                f.sequence,
                f.series,
                f.path,
                None if f.conforms is None else int(f.conforms),
                json.dumps(f.errors),
            )
        )
        if self._saving is None:
            self._saving = asyncio.get_running_loop().create_task(self._save_soon())

    async def _save_soon(self) -> None:
        try:
            await asyncio.sleep(0)
            await self._save()
        finally:
            self._saving = None

    async def _save(self) -> None:
        rows, self._unsaved = self._unsaved, []
        if not rows:
            return
        try:
            await self.store().run(lambda db: _insert(db, rows))
        except Exception:  # the report misses them; the live check never stops for it
            self.log.exception("storing %d DICOM findings failed", len(rows))

    async def reference_for(self, header: Header) -> Reference | None:
        """The reference of ``header``'s series, looked up once per series.

        Looked up *before* the series is counted into what is learned, so a sequence
        never seen before has no reference (grey), never its own (green).
        """
        uid = header.series_uid
        if uid in self._refs:
            self._refs.move_to_end(uid)
            return self._refs[uid]
        found = await self.store().run(
            lambda db: protocols.reference(db, header.project, header.sequence, header.description)
        )
        self._refs[uid] = found
        if len(self._refs) > 256:
            self._refs.popitem(last=False)
        return found

    def forget_references(self) -> None:
        """A reference changed: look each series' up again at its next file."""
        self._refs.clear()

    async def _count(self, header: Header) -> None:
        te = tuple(header.params.get("TE") or ())
        mark = (header.series_uid, protocols.param_key(header.params) + repr(te))
        if mark in self._counted:
            return
        self._counted.add(mark)
        if len(self._counted) > 100_000:
            self._counted.clear()
        params: dict[str, Any] = header.params
        await self.store().run(
            lambda db: protocols.count_series(db, header.project, header.sequence, header.series_uid, params)
        )
