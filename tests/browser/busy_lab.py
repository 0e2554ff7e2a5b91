"""The demo lab on a busy scan day, for the layout and theme tests and the docs' screenshots:
a run printing long log lines (a 300-character word, a long path), the rig group
initialised and started, files with long names in the local watch, the upload folder and
a real remote agent's watch, a user and the agent's token for the admin page.

Everything that makes a page wide comes from here, so the overflow test and the
screenshots show the same lab."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from labdeck import Deck
from labdeck.demo.dicom_series import Protocol, SeriesWriter
from tests.helpers import runner_of, scaled

__all__ = ["AGENT", "LONG_FILE", "LONG_PATH", "LONG_SEQUENCE", "LONG_UPLOAD", "LONG_WORD", "BusyLab", "busy_lab",
           "on_loop"]

T = TypeVar("T")
SRC = Path(__file__).resolve().parents[2] / "src"
LONG_WORD = ("3f9c0a7be21d4c58" * 19)[:300]  # a checksum-like word of 300 characters, no space
LONG_PATH = ("/data/scans/2026-12-04/sub-0042_ses-01/func/"
             "sub-0042_ses-01_task-rest_acq-multiband8_dir-AP_run-01_echo-1_part-mag_bold_registered.nii.gz")
LONG_SEQUENCE = "cmrr_mbep2d_bold_task-rest_acq-mb8_dir-AP_run-01_sbref_physio"  # DICOM allows 64
LONG_FILE = "sub-0042_ses-01_task-rest_acq-multiband8_dir-AP_run-01_echo-1_part-mag_bold_volume-00001.dcm"
LONG_UPLOAD = "sub-0042_ses-01_task-rest_run-01_physio-respiration-and-cardiac-pulse_recording_1000Hz.tsv"
AGENT = "prisma-east-wing-console"
SCRIPT = f"""\
import time
from labdeck import script

for tr in range(1, 2001):
    script.plot(tr, (tr % 20) / 20, series="evidence", xlabel="TR")
    script.plot(tr, 0.05 + (tr % 7) / 70, series="motion", unit="mm", xlabel="TR")
    script.progress(tr / 2000, f"TR {{tr}}/2000")
    print(f"TR {{tr:4d}}: evidence {{(tr % 20) / 20:.2f}}", flush=True)
    if tr % 8 == 1:
        print({LONG_WORD!r}, flush=True)
        print("wrote {LONG_PATH}", flush=True)
    time.sleep(0.05)
"""


def on_loop(deck: Deck, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on the deck's event loop (it serves from another thread) and wait for it."""
    assert deck._loop is not None
    return asyncio.run_coroutine_threadsafe(work, deck._loop).result(scaled(20))


@dataclass
class BusyLab:
    deck: Deck
    run: int
    """The run started, running until the way out stops it."""
    agent: subprocess.Popen[str]


@contextmanager
def busy_lab(deck: Deck, scratch: Path, script: str = "long_lines",
             config: dict[str, Any] | None = None) -> Iterator[BusyLab]:
    """Fill the running demo ``deck`` with a busy day's content (``scratch``: a folder for
    the agent) and start ``script`` (by default the one printing long lines) with
    ``config``; the run and the agent stop on the way out."""
    project = Path(deck.config.server.data) / "project"
    (project / "scripts" / "long_lines.py").write_text(SCRIPT, encoding="utf-8")
    deck.config.scripts["long_lines"] = "scripts/long_lines.py"
    uploads = project / "uploads"
    uploads.mkdir(exist_ok=True)
    (uploads / LONG_UPLOAD).write_text("t\tresp\tcardiac\n0.000\t0.12\t0.80\n", encoding="utf-8")
    _long_named_file(Path(deck.config.server.data) / "scanner")
    rigs = deck.capabilities["rigs"].object  # type: ignore[attr-defined]
    on_loop(deck, rigs.init())
    on_loop(deck, rigs.start("2026-12-04_1_sub-0042"))
    assert deck.gate is not None
    agent = _start_agent(deck, on_loop(deck, deck.gate.tokens.add(AGENT, "operator")), scratch)
    try:
        _long_named_file(scratch / "scans")
        on_loop(deck, deck.gate.users.add("maria-fernanda.gonzalez-rodriguez", "operator", "correct horse battery"))
        run = on_loop(deck, runner_of(deck).run(script, config))
        yield BusyLab(deck, run, agent)
    finally:
        if runner_of(deck).status()["state"] in ("starting", "running"):
            on_loop(deck, runner_of(deck).stop())
        agent.kill()
        agent.wait(scaled(10))


def _long_named_file(folder: Path) -> None:
    """A series of the long sequence in ``folder``, its file renamed to a long name once
    written (moved in, as a scanner's export does)."""
    written = SeriesWriter(folder, Protocol(LONG_SEQUENCE), station="PRISMA-EAST").write()
    written.rename(written.with_name(LONG_FILE))


def _start_agent(deck: Deck, token: str, scratch: Path) -> subprocess.Popen[str]:
    """A real ``labdeck agent`` watching ``scratch/scans`` for ``deck``, once connected."""
    scans = scratch / "scans"
    scans.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(SRC), "LABDECK_TOKEN": token}
    log = (scratch / "agent.log").open("w")
    agent = subprocess.Popen([sys.executable, "-m", "labdeck", "agent", "--server", deck.url, "--watch",
                              f"{scans}:dicom", "--name", AGENT, "--data", str(scratch / "agent")],
                             env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    deadline = time.monotonic() + scaled(20)
    while not _connected(deck):
        if time.monotonic() > deadline or agent.poll() is not None:
            agent.kill()
            agent.wait(scaled(10))
            raise AssertionError(f"the agent did not connect: {(scratch / 'agent.log').read_text()}")
        time.sleep(0.1)
    return agent


def _connected(deck: Deck) -> bool:
    with urllib.request.urlopen(deck.url + "api/agents", timeout=scaled(10)) as reply:
        return any(a["name"] == AGENT and a["connected"] for a in json.load(reply)["agents"])
