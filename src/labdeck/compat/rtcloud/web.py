"""``webInterface``: the operator's view of the run, on labdeck's dashboard.

Every call prints what rt-cloud's local mode prints, so the run's log (``run/log``)
keeps it; started by labdeck, it also tells the runner (:mod:`labdeck.protocol.link`):
``plotDataPoint`` plots on ``run/data`` in series ``"run <runId>"`` (a TR plotted again
replaces its point, in the dashboard and in the stored run, as rt-cloud does), the clears go on
``run/clear``, the log calls and ``setUserError``/``sendRunStatus`` on ``run/notice``.

The names are rt-cloud's ``rtCommon/webDisplayInterface.py``, both its earlier
``debugError`` and its later ``setDebugError``. ``sendConfig`` and ``sendPreviousDataPoints``
have nothing to send on labdeck (the runner shows the configuration it passed, and the
dashboard replays the stored points itself): they print, as rt-cloud does without a page.
"""

from __future__ import annotations

import math
import operator
import sys
from typing import Any

from labdeck.compat.rtcloud.errors import RequestError
from labdeck.compat.rtcloud.subject import plain
from labdeck.protocol.link import MAX_NOTICE, Clear, Notice, NoticeKind, Plot
from labdeck.runner import script

__all__ = ["WebDisplayInterface", "series_of"]


def series_of(runId: int) -> str:
    """The plot series of run ``runId``."""
    return f"run {runId}"


class WebDisplayInterface:
    """rt-cloud's ``WebDisplayInterface``, as a script sees it."""

    def __init__(self, ioLoopInst: Any = None) -> None:
        """Args:
            ioLoopInst: accepted for rt-cloud's signature (its web server's event loop);
                labdeck's runner carries the messages.
        """
        self.dataPoints: list[list[dict[str, Any]]] = [[]]

    def userLog(self, logStr: str) -> None:
        """A line for the operator."""
        self._notice("user", "UserLog", logStr)

    def sessionLog(self, logStr: str) -> None:
        """A line of the session's log."""
        self._notice("session", "SessionLog", logStr)

    def debugLog(self, logStr: str) -> None:
        """A debugging line."""
        self._notice("debug", "DebugLog", logStr)

    def debugError(self, errStr: str) -> None:
        """A debugging error, on stderr."""
        self._notice("debug", "DebugError", errStr, error=True)

    def setDebugError(self, errStr: str) -> None:
        """A debugging error, on stderr (rt-cloud's later name for :meth:`debugError`)."""
        self.debugError(errStr)

    def setUserError(self, errStr: str) -> None:
        """An error the operator must see, on stderr (the run's last error)."""
        self._notice("error", "UserError", errStr, error=True)

    def sendRunStatus(self, statusStr: str) -> None:
        """The run's status in words."""
        self._notice("status", "RunStatus", statusStr)

    def sendUploadStatus(self, fileStr: str) -> None:
        """A line of the session's log naming a file uploaded."""
        self._notice("session", "UploadStatus", fileStr)

    def sendConfig(self, config: Any, filename: str = "") -> None:
        """Printed only: the dashboard shows the configuration the runner passed to the run."""
        print(f"sendConfig: {filename}", flush=True)

    def sendPreviousDataPoints(self) -> None:
        """Printed only: the dashboard replays the points stored with the run by itself."""
        print(f"sendPreviousDataPoints: {self.dataPoints}", flush=True)

    def plotDataPoint(self, runId: int, trId: float, value: float | None) -> None:
        """Plot ``value`` at ``trId`` in run ``runId``'s plot (a number from 1).

        Raises:
            RequestError: ``runId`` is not a number from 1.
        """
        run = _run_id(runId)
        self._remember(run, plain(trId), plain(value))
        print(f"plotDataPoint: run {runId}, tr {trId}, value {value}", flush=True)
        script.send(Plot(series_of(run), [_number(trId)], [_number(value)], replace=True))

    def clearRunPlot(self, runId: int) -> None:
        """Drop the points plotted for run ``runId``.

        Raises:
            RequestError: ``runId`` is not a number from 1.
        """
        run = _run_id(runId)
        self._remember(run, None, None)
        print(f"clearRunPlot: run {runId}", flush=True)
        script.send(Clear(series_of(run)))

    def clearAllPlots(self) -> None:
        """Drop every point plotted in this run."""
        self.dataPoints = [[]]
        print("clearAllPlots", flush=True)
        script.send(Clear())

    def getPreviousDataPoints(self) -> list[list[dict[str, Any]]]:
        """The points plotted so far, per run id (index 0 is run 1)."""
        return self.dataPoints

    def _remember(self, runId: int, x: float | None, y: float | None) -> None:
        while len(self.dataPoints) < runId:
            self.dataPoints.append([])
        points = self.dataPoints[runId - 1]
        if x is None:
            points.clear()
            return
        for point in points:
            if point["x"] == x:
                point["y"] = y
                return
        points.append({"x": x, "y": y})

    @staticmethod
    def _notice(kind: NoticeKind, label: str, text: str, error: bool = False) -> None:
        print(f"{label}: {text}", file=sys.stderr if error else sys.stdout, flush=True)
        script.send(Notice(kind, str(text)[:MAX_NOTICE]))  # the whole line is in the log


def _run_id(runId: Any) -> int:
    """``runId`` as an int, if it is a whole number from 1 (rt-cloud numbers runs from 1).

    Raises:
        RequestError: it is not.
    """
    if isinstance(runId, float) and runId.is_integer():
        runId = int(runId)
    try:
        run = operator.index(runId)  # numpy's integers too
    except TypeError:
        run = 0
    if isinstance(runId, bool) or run < 1:
        raise RequestError(f"runId must be a number > 0: {runId!r}")
    return run


def _number(v: Any) -> float | None:
    """A number the link carries; ``None``, NaN and infinities are a gap."""
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None
