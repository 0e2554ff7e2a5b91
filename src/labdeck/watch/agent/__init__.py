"""The remote agent: ``labdeck agent`` on a scanner or rig PC, and the server's side of it.

* :mod:`~labdeck.watch.agent.outbox`: the agent's on-disk queue (SQLite);
* :mod:`~labdeck.watch.agent.runner`: the agent: local watches, DICOM headers read
  locally, the queue sent exactly once across reconnects (over :mod:`labdeck.client`,
  with an API token), files fetched on request;
* :mod:`~labdeck.watch.agent.server`: the ``agents`` object the server exposes to them.
"""

from __future__ import annotations

__all__: list[str] = []
