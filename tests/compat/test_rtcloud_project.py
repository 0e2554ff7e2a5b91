"""The migration guide's sample project, written the way rt-cloud's documentation writes an
experiment script, runs on ``labdeck.compat.rtcloud`` with only its import changed: started
by labdeck's runner with the scanner writing DICOM files during the run, and by hand."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from labdeck.demo.dicom_series import Protocol, SeriesWriter
from tests.helpers import runner_of, scaled, until
from tests.runner.conftest import connect, log_lines

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "howto" / "migrate-rtcloud.md"
TRS = 5


def write_project(folder: Path) -> Path:
    """The guide's files in ``folder``; returns its ``labdeck.toml``."""
    found = dict(re.findall(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S))
    assert set(found) == {"sample.py", "conf/sample.toml", "labdeck.toml", "pages/feedback/index.html"}
    assert "from labdeck.compat.rtcloud import ClientInterface" in found["sample.py"]
    for name, text in found.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder / "labdeck.toml"


def scan(folder: Path, trs: range, pause: float = 0.0) -> None:
    """What the scanner writes: one image per TR, its pixels all ``10 * TR`` (so that the
    sample's value is ``TR / 10``), each file written whole under a temporary name and
    renamed, as scanners and ``labdeck agent`` do."""
    writer = SeriesWriter(folder / "staging", Protocol("bold", matrix=(16, 16)))
    for tr in trs:
        staged = writer.write()
        ds = pydicom.dcmread(staged)
        ds.PixelData = np.full((16, 16), 10 * tr, dtype=np.uint16).tobytes()
        target = folder / "incoming" / "001_bold" / f"MR.001.{tr:05d}.dcm"
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target.with_suffix(".part"))
        os.replace(target.with_suffix(".part"), target)
        if pause:
            import time

            time.sleep(pause)


async def test_the_sample_runs_under_the_runner_while_the_scanner_writes(
        tmp_path: Path, make_deck: Callable[..., Any]) -> None:
    toml = write_project(tmp_path)
    deck = make_deck(toml)
    await deck.start()
    try:
        client = await connect(deck, "run/data", "run/clear", "run/notice", "run/feedback", "run/log", "run/status")
        run = await runner_of(deck).run("sample")
        await until(lambda: any(p["data"].get("kind") == "status" for p in client.pushes["run/notice"]),
                    what="the script waiting for the scanner")
        await asyncio.to_thread(scan, tmp_path, range(1, TRS + 1), 0.05)
        status = await asyncio.wait_for(runner_of(deck).wait(), scaled(60))
        assert status["state"] == "finished", log_lines(client, run)
        await client.wait_for("run/notice", TRS + 3)
        await client.wait_for("run/feedback", TRS + 1)

        points = [(x, y) for p in client.pushes["run/data"] if p["data"]["series"] == "run 1"
                  for x, y in zip(p["data"]["x"], p["data"]["y"], strict=True)]
        assert points == [(float(tr), tr / 10) for tr in range(1, TRS + 1)]
        assert [p["data"] for p in client.pushes["run/clear"]] == [{"run": run, "series": "run 1"}]

        feedback = [p["data"] for p in client.pushes["run/feedback"]]
        assert feedback[0] == {"run": run, "message": "Keep still, the run is starting"}
        results = [(f["values"], f["delay_ms"]) for f in feedback if f.get("name") is None and "values" in f]
        assert results == [({"runId": 1, "trId": tr, "value": tr / 10}, 250.0) for tr in range(1, TRS + 1)]
        assert len(feedback) == TRS + 1

        notices = [(p["data"]["kind"], p["data"]["text"]) for p in client.pushes["run/notice"]]
        assert notices[0] == ("status", "run 1: waiting for the scanner")
        assert ("user", "TR 3: bold value 0.30") in notices
        assert notices[-2:] == [("session", "run 1: 5 of 5 TRs, saved run1_values.txt"), ("status", "run 1: done")]
        assert all(p["data"]["run"] == run for p in client.pushes["run/notice"])
        # what the operator sees is also in the run's stored log
        assert "UserLog: TR 5: bold value 0.50" in [line["text"] for line in log_lines(client, run)]
        out = tmp_path / "out" / "run1_values.txt"
        assert out.read_text() == "".join(f"{tr / 10:.2f}\n" for tr in range(1, TRS + 1))
        await client.close()
    finally:
        await deck.stop()


def test_the_sample_run_by_hand_prints_and_uses_local_files(tmp_path: Path) -> None:
    write_project(tmp_path)
    scan(tmp_path, range(1, TRS + 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_")}
    done = subprocess.run([sys.executable, str(tmp_path / "sample.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=scaled(60), check=True)
    lines = done.stdout.splitlines()
    assert lines[:3] == ["clearRunPlot: run 1", "RunStatus: run 1: waiting for the scanner",
                         "SubjectInterface: setMessage: Keep still, the run is starting"]
    assert "plotDataPoint: run 1, tr 2, value 0.2" in lines
    assert "SubjectInterface: setResult: run 1, tr 2, value 0.2" in lines
    assert lines[-1] == "RunStatus: run 1: done"
    assert "not started by labdeck, using local files" in done.stderr
    assert (tmp_path / "out" / "run1_values.txt").read_text().splitlines() == ["0.10", "0.20", "0.30", "0.40", "0.50"]


def test_a_late_image_is_none_and_the_operator_is_told(tmp_path: Path) -> None:
    write_project(tmp_path)
    conf = tmp_path / "conf" / "sample.toml"
    conf.write_text(conf.read_text().replace("imageTimeout = 10", "imageTimeout = 0.02"))
    scan(tmp_path, range(1, 3))  # TRs 3 to 5 never come
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_")}
    done = subprocess.run([sys.executable, str(tmp_path / "sample.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=scaled(60), check=True)
    assert [line for line in done.stderr.splitlines() if line.startswith("UserError")] == [
        f"UserError: TR {tr}: no image arrived" for tr in (3, 4, 5)]
    assert (tmp_path / "out" / "run1_values.txt").read_text() == "0.10\n0.20\n"
