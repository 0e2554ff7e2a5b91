"""The remote agent: ``labdeck agent`` on a scanner or rig PC, and the server's side of it.

* :mod:`~labdeck.watch.agent.outbox`: the agent's on-disk queue (SQLite);
* :mod:`~labdeck.watch.agent.link`: its connection to the server's ``/ws`` (the wire
  protocol, with an API token);
* :mod:`~labdeck.watch.agent.runner`: the agent: local watches, DICOM headers read
  locally, the queue sent exactly once across reconnects, files fetched on request;
* :mod:`~labdeck.watch.agent.server`: the ``agents`` object the server exposes to them.
"""

from __future__ import annotations

__all__: list[str] = []
