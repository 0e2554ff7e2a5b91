"""Capabilities that one server process of a deployment runs at a time.

A watch must report each file once and a rig group must be driven from one place, so
with several server processes sharing a broker, a capability whose class sets
``single = True`` runs only in the process holding its lease ``capability/<name>``. The
others stand by, say so on ``/healthz`` (``{"standby": "run by ..."}``), and try again
every third of ``[broker] lease_ttl``: when the owner dies, even by SIGKILL, its lease
expires and one of them takes over. An owner whose lease was lost (it stalled, or could
not reach Redis, for longer than the ttl: another may have taken over) stops the
capability and stands by again, starting it anew once it holds the lease again.

With the in-process broker there is nobody to share with: the capability starts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import TYPE_CHECKING

from labdeck.broker.locks import Lease, Leases

if TYPE_CHECKING:
    from labdeck.capability import Capability

__all__ = ["Owned"]

log = logging.getLogger(__name__)


class Owned:
    """Starts ``cap`` once this process holds its lease, and keeps trying until then."""

    def __init__(self, cap: Capability, leases: Leases, ttl: float) -> None:
        self.cap = cap
        self.leases = leases
        self.ttl = ttl
        self.lease: Lease | None = None
        self.standby: str | None = None
        """Who runs the capability while this process stands by."""
        self._task: asyncio.Task[None] | None = None
        self._running = False

    @property
    def key(self) -> str:
        return f"capability/{self.cap.name}"

    def __repr__(self) -> str:
        return repr(self.cap)

    async def start(self, deck: object = None) -> None:
        """Start at once if the lease is free, else stand by; either way, keep watching
        the lease in the background (a lost one stops the capability here)."""
        await self._try()
        self._task = asyncio.get_running_loop().create_task(self._wait())

    async def _try(self) -> bool:
        holder = f"{socket.gethostname()} (pid {os.getpid()})"
        try:
            lease = await self.leases.acquire(self.key, holder, self.ttl)
            if lease is None:
                self.standby = await self.leases.holder(self.key) or "another server process"
                return False
        except Exception as exc:  # the broker is away: stand by and try again
            log.warning("capability %s: cannot reach the broker for its lease: %s", self.cap.name, exc)
            self.standby = "unknown: the broker is unreachable"
            return False
        self.lease, self.standby = lease, None
        await self.cap.start()
        self._running = True
        log.info("capability %s runs in this process (lease fence %d)", self.cap.name, lease.fence)
        return True

    async def _wait(self) -> None:
        while True:
            while self.lease is None and not await self._try():
                await asyncio.sleep(self.ttl / 3)
            while self.lease is not None and not self.lease.lost:
                await asyncio.sleep(self.ttl / 3)
            log.error("capability %s: lost its lease; stopping it here", self.cap.name)
            await self._stop_cap()

    async def _stop_cap(self) -> None:
        if self._running:
            self._running = False
            await self.cap.stop()
        lease, self.lease = self.lease, None
        if lease is not None:
            await lease.release()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._stop_cap()
