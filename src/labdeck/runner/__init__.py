"""Scripts as subprocesses: line streaming, stop escalation, one run at a time, run history.

The modules, from the operating system up: :mod:`~labdeck.runner.process` (one
process, its pipes and signals), :mod:`~labdeck.runner.link` (the socket a script's
``labdeck.script`` talks to), :mod:`~labdeck.runner.runs` (the runner service and its
RPC methods), :mod:`~labdeck.runner.history` and :mod:`~labdeck.runner.presets` (the
store), :mod:`~labdeck.runner.api` and :mod:`~labdeck.runner.uploads` (REST).
:mod:`labdeck.script` is what scripts import; this package does not import it.

Nothing is imported here, so ``import labdeck.runner.script`` stays light.
"""

from __future__ import annotations

__all__: list[str] = []
