"""Watches as a capability: ``[watch.<name>]`` tables, ``files/`` and ``dicom/`` channels,
the ``stations`` object, the REST routes and the Incoming and Stations panels.

Shipped with labdeck and enabled by a ``[watch.<name>]`` table, like every capability
other than the runner: a server that watches nothing shows no watch panels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from labdeck.capability import Capability, Context, Exposed, Panel, Route
from labdeck.objects import Policy
from labdeck.watch.agent.cli import AGENT_COMMAND
from labdeck.watch.agent.server import AgentsObject
from labdeck.watch.cli import COMMANDS
from labdeck.watch.config import WatchConfig, tolerances_of
from labdeck.watch.dicom.pipeline import DicomPipeline
from labdeck.watch.dicom.stations import Stations
from labdeck.watch.folder import Landed
from labdeck.watch.ledger import Ledger
from labdeck.watch.watcher import Watcher

__all__ = ["AGENT_CALLS", "StationsObject", "WatchCapability"]

AGENT_CALLS = ("hello", "beat", "bye", "events", "chunk", "refuse")
"""What a remote agent may call on ``agents`` (with an operator's token)."""


class StationsObject:
    """What browsers reach as ``stations``: the state of every scanner station."""

    def __init__(self, stations: Stations) -> None:
        self._stations = stations

    def state(self) -> dict[str, Any]:
        """``{"stations": {name: state}, "units": {param: unit}}``; never a patient's data."""
        return self._stations.state()


class WatchCapability(Capability):
    """Watches folders for files that finished writing, and checks DICOM ones."""

    name = "watch"
    single = True  # each file reported once: one server process of a deployment watches
    config_type = dict[str, WatchConfig]
    channels = ("files/", "dicom/", "agents/")
    static = Path(__file__).parent / "static"
    commands = (*COMMANDS, AGENT_COMMAND)
    panels = (
        Panel("incoming", "Incoming", "incoming.js", order=46, css="incoming.css", summary="agents-summary.js"),
        Panel("stations", "Stations", "stations.js", order=47, css="stations.css", summary="stations-summary.js"),
    )

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.configs: dict[str, WatchConfig] = ctx.config or {}
        checks = [c for config in self.configs.values() if config.kind == "dicom" for c in config.session_checks]
        self.stations = Stations(tolerances_of(self.configs), checks)
        self.dicom = DicomPipeline(self.stations, ctx.publish, lambda: self.ctx.store, ctx.log)
        self.watchers: dict[str, Watcher] = {}
        self.agents = AgentsObject(lambda: self.ctx.store, ctx.publish, self.dicom)

    def objects(self) -> Mapping[str, Exposed]:
        return {
            "stations": Exposed(StationsObject(self.stations), Policy(allow=["state"])),
            "agents": Exposed(self.agents, Policy(allow=list(AGENT_CALLS))),
        }

    def routes(self) -> Sequence[Route]:
        from labdeck.watch.api import ROUTES

        return ROUTES

    async def start(self) -> None:
        if any(c.kind == "dicom" for c in self.configs.values()):
            # Imported here, once, rather than by the first file on the reader thread: it takes
            # ~0.1 s, and pydicom imported from two threads at once can fail half-initialised.
            import pydicom  # noqa: F401
        self.dicom.start()
        for name, config in self.configs.items():
            root = self.ctx.project.resolve(config.path)
            landed = self._dicom_landed(name, config.learn) if config.kind == "dicom" else None
            watcher = Watcher(name, config, root, Ledger(self.ctx.store, name), self.ctx.publish, landed, self.ctx.log)
            self.watchers[name] = watcher
            watcher.start()

    def _dicom_landed(self, name: str, learn: bool) -> Callable[[Landed], None]:
        def landed(file: Landed) -> None:
            self.dicom.landed(name, file.path, file.abs, learn)

        return landed

    async def stop(self) -> None:
        for watcher in self.watchers.values():
            await watcher.stop()
        await self.dicom.stop()

    def health(self) -> Mapping[str, Any]:
        if not self.configs:
            return {}
        watches = {name: w.health() for name, w in self.watchers.items()}
        return {
            "ok": all(w["state"] == "watching" for w in watches.values()),
            "watches": watches,
            "dicom_checked": self.dicom.checked,
        }
