"""The API experiment scripts import: ``from labdeck import script``.

See :mod:`labdeck.runner.script` for the details and ``docs/howto/run-scripts.md``.
"""

from __future__ import annotations

from labdeck.runner.script import FLUSH_INTERVAL, FLUSH_POINTS, config, log, plot, progress, result

__all__ = ["FLUSH_INTERVAL", "FLUSH_POINTS", "config", "log", "plot", "progress", "result"]
