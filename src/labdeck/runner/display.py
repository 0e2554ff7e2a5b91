"""What the runner publishes for the display messages of a script link.

Plots, progress and results have their own handling in :mod:`labdeck.runner.runs`;
the messages here are shown and not stored (beyond what the script also prints):

* :class:`~labdeck.protocol.link.Clear` on ``run/clear``:
  ``{"run": 7, "series": "run 1"}`` (``series`` ``null``: every series of the run);
* :class:`~labdeck.protocol.link.Notice` of kind ``subject`` on ``run/feedback``:
  ``{"run": 7, "message": "Keep still"}``; of any other kind on ``run/notice``:
  ``{"run": 7, "kind": "error", "text": "..."}``;
* :class:`~labdeck.protocol.link.Feedback` on ``run/feedback``:
  ``{"run": 7, "name": null, "values": {...}, "delay_ms": 0.0, "t": 1763742000.1}``,
  ``t`` being when the runner received it (the display waits ``delay_ms`` after it).
"""

from __future__ import annotations

import time
from typing import Any

from labdeck.protocol.link import Clear, Feedback, Notice

__all__ = ["DisplayMessage", "publication"]

DisplayMessage = Clear | Notice | Feedback


def publication(run: int, msg: DisplayMessage) -> tuple[str, dict[str, Any]]:
    """The channel and data to publish for ``msg`` of run ``run``."""
    if isinstance(msg, Clear):
        return "run/clear", {"run": run, "series": msg.series}
    if isinstance(msg, Notice):
        if msg.kind == "subject":
            return "run/feedback", {"run": run, "message": msg.text}
        return "run/notice", {"run": run, "kind": msg.kind, "text": msg.text}
    return "run/feedback", {"run": run, "name": msg.name, "values": msg.values, "delay_ms": msg.delay_ms,
                            "t": time.time()}
