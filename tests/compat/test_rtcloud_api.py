"""rt-cloud's calls as a script run by hand sees them: what they print, what they refuse.
(Started by labdeck, the same calls reach the dashboard: ``test_rtcloud_project``.)"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import scaled

SCRIPT = r"""
import numpy as np
from labdeck.compat.rtcloud import ClientInterface, RequestError, ValidationError

ci = ClientInterface()
web, subj, data = ci.webInterface, ci.subjInterface, ci.dataInterface
web.plotDataPoint(2, 1, 0.5)
web.plotDataPoint(2, 1, 0.7)                      # the same TR again replaces it in the record
web.plotDataPoint(np.int64(1), 3, np.float64(0.25))
print(web.getPreviousDataPoints())
for bad in (0, -1, "1", True, 1.5, None):
    try:
        web.plotDataPoint(bad, 1, 0.1)
    except RequestError as exc:
        print("refused", repr(bad))
web.clearRunPlot(2)
print(web.getPreviousDataPoints())
web.setUserError("the scanner stopped")
subj.setResult(1, 4, np.float32(0.5), 100)
subj.setResultDict({"runId": 1, "trId": 5, "value": 0.6}, 20)   # rt-cloud's earlier form
subj.setResultDict(name="run1_TR6", values={"score": np.int64(3)})
for delay in (-1, float("nan"), float("inf"), "10"):
    try:
        subj.setResult(1, 7, 0.1, delay)
    except ValidationError as exc:
        print("refused delay")
try:
    subj.setResultDict(name="x", values={"a": object()})
except ValueError as exc:
    print("refused value")
print(ci.isDataRemote(), data.getAllowedFileTypes(), abs(data.getClockSkew(data.ping(), 0.0)) < 1)
"""


def test_a_script_run_by_hand_prints_and_refuses_what_rtcloud_refuses(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_")}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=scaled(30), check=True)
    out = [line for line in done.stdout.splitlines() if line]
    assert out[:4] == ["plotDataPoint: run 2, tr 1, value 0.5", "plotDataPoint: run 2, tr 1, value 0.7",
                       "plotDataPoint: run 1, tr 3, value 0.25",
                       "[[{'x': 3, 'y': 0.25}], [{'x': 1, 'y': 0.7}]]"]
    assert [line for line in out if line.startswith("refused ")] == [
        "refused 0", "refused -1", "refused '1'", "refused True", "refused 1.5", "refused None",
        *["refused delay"] * 4, "refused value"]
    assert "[[{'x': 3, 'y': 0.25}], []]" in out
    assert "SubjectInterface: setResult: run 1, tr 4, value 0.5" in out
    assert out[-1] == "False ['*'] True"
    assert "UserError: the scanner stopped" in done.stderr.splitlines()


def test_results_queue_for_a_presentation_script_in_the_same_process() -> None:
    from labdeck.compat.rtcloud import SubjectInterface

    subj = SubjectInterface()
    subj.setResult(1, 4, 0.5, 100)
    subj.setResultDict({"runId": 1, "trId": 5, "value": 0.6}, 20)
    subj.setResultDict(name="run1_TR6", values={"score": 3})
    got = [subj.dequeueResult() for _ in range(3)]
    assert [{k: v for k, v in g.items() if k != "timestamp"} for g in got] == [
        {"runId": 1, "trId": 4, "value": 0.5, "onsetTimeDelayMs": 100},
        {"runId": 1, "trId": 5, "value": 0.6, "onsetTimeDelayMs": 20},
        {"score": 3, "onsetTimeDelayMs": 0, "name": "run1_TR6"}]
    with pytest.raises(queue.Empty):
        subj.dequeueResult()


def test_the_parts_take_the_arguments_rtcloud_makes_them_with(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A script that builds the parts itself, as rt-cloud's own modules do, keeps working."""
    from labdeck.compat.rtcloud import (
        DataInterface,
        RequestError,
        SubjectInterface,
        ValidationError,
        WebDisplayInterface,
    )

    web = WebDisplayInterface(ioLoopInst=None)
    web.setDebugError("TR 7 came late")
    web.sendUploadStatus("run1/values.txt")
    web.sendConfig({"subject": "s01"}, "s01.toml")
    web.sendPreviousDataPoints()
    shown = capsys.readouterr()
    assert "DebugError: TR 7 came late" in shown.err.splitlines()
    assert shown.out.splitlines() == ["UploadStatus: run1/values.txt", "sendConfig: s01.toml",
                                      "sendPreviousDataPoints: [[]]"]
    assert SubjectInterface(subjectRemote=False).message == ""
    with pytest.raises(RequestError, match="no remote subject mode"):
        SubjectInterface(subjectRemote=True)
    with pytest.raises(RequestError, match="no remote data mode"):
        DataInterface(dataremote=True)
    data = DataInterface(dataremote=False, allowedDirs=[str(tmp_path)], allowedFileTypes=["txt"])
    assert data.getAllowedFileTypes() == [".txt"]  # rt-cloud puts the dot in front
    data.putFile(str(tmp_path / "a.txt"), "0.5")
    assert data.getFile(str(tmp_path / "a.txt")) == b"0.5"
    for name in ("atxt", "a.dat"):
        with pytest.raises(ValidationError):
            data.putFile(str(tmp_path / name), "x")
    nothing = DataInterface(allowedDirs=[str(tmp_path)], allowedFileTypes=[""])  # an empty type allows no file
    with pytest.raises(ValidationError):
        nothing.getFile(str(tmp_path / "a.txt"))
