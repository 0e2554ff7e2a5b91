"""The runner as a capability: the ``runner`` object, the run-history API, the run panels.

The runner's settings are the project's core ``[scripts]`` and ``[run]`` sections, so it
reads them from ``ctx.project``; it has no section of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from labdeck.capability import Capability, Context, Exposed, Panel, Route
from labdeck.objects import Policy
from labdeck.runner.api import ROUTES, SCHEMAS
from labdeck.runner.runs import RUNNER_METHODS, Runner
from labdeck.runner.scripts import script_command

__all__ = ["RunnerCapability"]


class RunnerCapability(Capability):
    """Runs the project's scripts, one at a time (see :class:`~labdeck.runner.runs.Runner`)."""

    name = "runner"
    always = True
    channels = ("run/",)
    openapi_schemas = SCHEMAS
    panels = (
        Panel("overview", "Overview", "static/panels/overview.js", order=5, css="static/panels/overview.css"),
        Panel("run", "Run", "static/panels/run.js", order=10, css="static/panels/run.css"),
        Panel("log", "Log", "static/panels/log.js", order=20, css="static/panels/log.css"),
        Panel("plots", "Plots", "static/panels/plots.js", order=30, css="static/panels/plots.css"),
        Panel("settings", "Settings", "static/panels/settings.js", order=40, css="static/panels/settings.css"),
        Panel("files", "Files", "static/panels/files.js", order=45, css="static/panels/files.css"),
        Panel("history", "History", "static/panels/history.js", order=50, css="static/panels/history.css"),
    )

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.runner = Runner(ctx.project, ctx.publish)

    def objects(self) -> Mapping[str, Exposed]:
        return {"runner": Exposed(self.runner, Policy(allow=RUNNER_METHODS))}

    def routes(self) -> Sequence[Route]:
        return ROUTES

    async def start(self) -> None:
        await self.runner.open(self.ctx.store, self.ctx.leases)
        # A script file that is not there is said now, not when someone presses Run.
        for name in self.ctx.project.scripts:
            missing = script_command(self.ctx.project, name).missing
            if missing is not None:
                self.ctx.log.warning("script %r: file not found: %s (a run of it will fail)", name, missing)

    async def stop(self) -> None:
        await self.runner.close()
