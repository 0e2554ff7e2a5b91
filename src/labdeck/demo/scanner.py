"""The demo's MR scanners: realistic DICOM series written into the watched folder.

Two stations acquire over and over: a T1 that matches its reference, a BOLD run whose
TR changes halfway through (the mid-series change a technologist must see), and a
sequence no reference knows (grey, never green). The references are pinned at start,
as an operator would.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from labdeck.demo.dicom_series import Protocol, SeriesWriter
from labdeck.watch.dicom import protocols
from labdeck.watch.dicom.headers import read_header

if TYPE_CHECKING:
    from labdeck.deck import Deck

__all__ = ["PROTOCOLS", "SimulatedScanner"]

T1 = Protocol("t1_mprage", tr=2300.0, te=(2.98,), flip=9.0, matrix=(256, 256), spacing=(1.0, 1.0),
              slice_thickness=1.0, bandwidth=240.0, ipat=2, phase="ROW", sequence_name="tfl3d1_16ns",
              sequence_file="tfl")
BOLD = Protocol("bold_rest")
UNKNOWN = Protocol("dwi_experimental", tr=4200.0, te=(89.0,), flip=90.0, sequence_name="ep_b1000",
                   sequence_file="ep2d_diff")
PROTOCOLS = (T1, BOLD, UNKNOWN)
PROJECT = "Brain^Study"


class SimulatedScanner:
    """Writes a file every ``interval`` seconds per station into ``folder``."""

    def __init__(self, folder: Path, interval: float = 0.5, files_per_series: int = 12) -> None:
        self.folder, self.interval, self.files = folder, interval, files_per_series
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, deck: Deck) -> None:
        # Each start is a new scan session: the files of the last one go (their QA results
        # stay in the store), so a demo kept for weeks does not fill the disk.
        await asyncio.to_thread(_empty, self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        assert deck.store is not None
        await self._pin_references(deck)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._acquire(station, offset))
                       for offset, station in enumerate(("AWP167046", "MRC35123"))]

    async def _pin_references(self, deck: Deck) -> None:
        """Pin T1 and BOLD from a file of each, written aside (never into the watch)."""
        aside = self.folder.parent / "reference-files"
        for proto in (T1, BOLD):
            params = read_header(SeriesWriter(aside, proto).write()).params
            assert deck.store is not None
            await deck.store.run(functools.partial(protocols.pin, project=PROJECT, sequence=proto.name,
                                                   params=params, by="demo"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _acquire(self, station: str, offset: int) -> None:
        await asyncio.sleep(offset * self.interval / 2)
        for number in itertools.count(1):
            proto = PROTOCOLS[(number + offset - 1) % len(PROTOCOLS)]
            series = SeriesWriter(self.folder / station, proto, station=station, project=PROJECT, series=number)
            for i in range(self.files):
                changed = proto is BOLD and i >= self.files // 2 and station == "AWP167046"
                await asyncio.to_thread(series.write, proto.changed(tr=2000.0) if changed else None)
                await asyncio.sleep(self.interval)


def _empty(folder: Path) -> None:
    for entry in folder.iterdir() if folder.is_dir() else ():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
