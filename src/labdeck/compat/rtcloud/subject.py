"""``subjInterface``: what the participant in the scanner is shown.

Started by labdeck, results and messages go to the runner and out on ``run/feedback``,
which a feedback page (``[pages]``, ``<deck-value channel="run/feedback">``) shows; run
by hand, they are printed and queued for :meth:`SubjectInterface.dequeueResult`, as
rt-cloud's local stand-in does.
"""

from __future__ import annotations

import math
import numbers
import queue
import time
from typing import Any

from labdeck.compat.rtcloud.errors import RequestError, ValidationError
from labdeck.exceptions import NotSerializable
from labdeck.protocol.link import MAX_NOTICE, Feedback, Notice, encode_message
from labdeck.runner import script

__all__ = ["SubjectInterface", "plain"]


class SubjectInterface:
    """rt-cloud's ``SubjectInterface``, as a script sees it."""

    def __init__(self, subjectRemote: bool = False) -> None:
        """Args:
            subjectRemote: accepted for rt-cloud's signature; the participant's display is a
                page of this server, so there is no remote stand-in (``True`` is refused).

        Raises:
            RequestError: ``subjectRemote`` is true.
        """
        if subjectRemote:
            raise RequestError("labdeck has no remote subject mode: the feedback page is one of the server's pages")
        self.msgQueue: queue.Queue[dict[str, Any]] = queue.Queue()
        self.message = ""

    def setResult(self, runId: int, trId: int, value: float, onsetTimeDelayMs: float = 0) -> None:
        """Feedback ``value`` for TR ``trId`` of run ``runId``, shown ``onsetTimeDelayMs`` later.

        Raises:
            ValidationError: ``onsetTimeDelayMs`` is negative.
            ValueError: ``value`` cannot be sent as JSON.
        """
        print(f"SubjectInterface: setResult: run {runId}, tr {trId}, value {value}", flush=True)
        self._send({"runId": plain(runId), "trId": plain(trId), "value": plain(value)}, onsetTimeDelayMs)

    def setResultDict(self, name: str | dict[str, Any] | None = None, values: Any = None,
                      onsetTimeDelayMs: float = 0) -> None:
        """Feedback of several values: ``setResultDict(name="run1_TR3", values={...})``, or, in
        rt-cloud's earlier form, ``setResultDict({"runId": 1, "trId": 3, ...}, onsetTimeDelayMs)``.

        Raises:
            ValidationError: the delay is negative, or the values are not a dict.
            ValueError: a value cannot be sent as JSON.
        """
        if isinstance(name, dict):  # the earlier form: the dict first, the delay second
            name, values, onsetTimeDelayMs = None, name, values if values is not None else onsetTimeDelayMs
        if not isinstance(values, dict):
            raise ValidationError(f"setResultDict: values must be a dict, not {type(values).__name__}")
        label = f"{name} " if name else ""
        print(f"SubjectInterface: setResultDict: {label}{values}", flush=True)
        self._send({str(k): plain(v) for k, v in values.items()}, onsetTimeDelayMs, name)

    def setMessage(self, message: str) -> None:
        """The message the participant's display shows."""
        print(f"SubjectInterface: setMessage: {message}", flush=True)
        self.message = str(message)
        script.send(Notice("subject", self.message[:MAX_NOTICE]))

    def getResponse(self, runId: int, trId: int) -> dict[str, Any]:
        """The participant's response (none: labdeck has no button box yet), ``{}``."""
        print(f"SubjectInterface: getResponse: run {runId}, tr {trId}", flush=True)
        return {}

    def getAllResponses(self) -> list[dict[str, Any]]:
        """The responses since the last call (none yet), ``[{}]`` as rt-cloud's stand-in."""
        return [{}]

    def dequeueResult(self, block: bool = False, timeout: float | None = None) -> dict[str, Any]:
        """The next result set, oldest first (what a presentation script run alongside reads).

        Raises:
            queue.Empty: none is waiting.
        """
        return self.msgQueue.get(block=block, timeout=timeout)

    def _send(self, values: dict[str, Any], delay: Any, name: str | None = None) -> None:
        if isinstance(delay, bool) or not isinstance(delay, numbers.Real) or not 0 <= float(delay) < math.inf:
            raise ValidationError(f"onsetTimeDelayMs must be >= 0, {delay}")
        message = Feedback(values, float(delay), name)
        try:
            encode_message(message)
        except NotSerializable as exc:
            raise ValueError(f"feedback cannot be sent as JSON: {exc}") from None
        self.msgQueue.put({**values, "onsetTimeDelayMs": delay, "timestamp": time.time(),
                           **({"name": name} if name else {})})
        script.send(message)


def plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds; anything else as it is."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    return value
