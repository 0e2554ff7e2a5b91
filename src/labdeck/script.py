"""The API experiment scripts import: ``from labdeck import script``.

See :mod:`labdeck.runner.script` for the details and ``docs/howto/run-scripts.md``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from labdeck.runner.script import FLUSH_INTERVAL, FLUSH_POINTS, config, log, plot, progress, result

if TYPE_CHECKING:
    from labdeck.rigs.group import RigGroup

__all__ = ["FLUSH_INTERVAL", "FLUSH_POINTS", "config", "log", "plot", "progress", "result", "rigs"]


def rigs(path: str | os.PathLike[str] | None = None) -> RigGroup:
    """The project's rigs (``[rigs.<name>]`` of its ``labdeck.toml``) as a group the script
    drives itself: ``async with script.rigs() as rigs: await rigs.init()``.

    See :mod:`labdeck.rigs.from_script`; the rig code is imported only when asked for.

    Raises:
        ConfigError: no ``labdeck.toml`` found, or a bad ``[rigs]`` section.
    """
    from labdeck.rigs.from_script import project_rigs

    return project_rigs(path)
