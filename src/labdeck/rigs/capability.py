"""Rigs as a capability: ``[rigs.<name>]``, the ``rigs`` object, ``GET /api/rigs``, the Rigs
panel, ``labdeck rig serve`` and the commands that drive a running server's rigs
(``labdeck rig init|start|stop|cleanup|status|info``, :mod:`labdeck.rigs.remote`).

Built in, and idle without ``[rigs.*]`` sections. What a run's script sends the rigs
itself (``labdeck.script.rigs()``) reaches it on ``run/rigs`` and shows in the panel too.
Roles: the ``rigs`` object's calls (``init``, ``start``, ``stop``, ``cleanup``,
``status``, ``info``) need operator, like every call; viewers read the rigs' states from
``rigs/<name>`` and ``GET /api/rigs``, and ask them for status and info through
``GET /api/rigs/status`` and ``GET /api/rigs/info``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from labdeck.capability import Capability, Command, Context, Exposed, Panel, Route, capability_of
from labdeck.config import import_from
from labdeck.exceptions import ConfigError, NotFound
from labdeck.objects import Policy, reads
from labdeck.protocol.rig import Event
from labdeck.rigs import remote
from labdeck.rigs.address import MODES, parse_uri
from labdeck.rigs.endpoint import RigEndpoint
from labdeck.rigs.group import RigConfig, RigGroup, RigOutcome
from labdeck.rigs.handlers import SimulatedRig, load_handlers
from labdeck.rigs.tls import server_context

__all__ = ["RIGS_METHODS", "RigsCapability", "RigsObject", "serve_rig"]

log = logging.getLogger(__name__)

RIGS_METHODS = ("init", "start", "stop", "cleanup", "status", "info", "rigs")
"""What a browser may call on ``rigs``."""


class RigsObject:
    """The ``rigs`` object: each method asks the rigs (all, or those named) and returns
    ``{rig: answer}``, a rig that failed being ``{"error": {"type", "message"}}``."""

    def __init__(self, group: RigGroup) -> None:
        self._group = group

    @reads
    def rigs(self) -> list[dict[str, Any]]:
        """Every rig's state, last message and round trip."""
        return [view.as_dict() for view in self._group.views.values()]

    async def init(self, data: Any = None, rigs: list[str] | None = None, concurrent: bool = True) -> dict[str, Any]:
        """Initialise the rigs, all at once unless ``concurrent`` is false."""
        return await self._send(Event.INIT, [data], rigs, concurrent)

    async def start(self, exp_ref: str, data: Any = None, rigs: list[str] | None = None,
                    concurrent: bool = True) -> dict[str, Any]:
        """Start experiment ``exp_ref`` (``yyyy-mm-dd_n_subject``) on the rigs."""
        return await self._send(Event.START, [exp_ref, data], rigs, concurrent)

    async def stop(self, immediately: bool = False, data: Any = None, rigs: list[str] | None = None,
                   concurrent: bool = True) -> dict[str, Any]:
        """Stop the rigs, last started first; ``immediately`` interrupts instead."""
        return await self._send(Event.INTERRUPT if immediately else Event.STOP, [data], rigs, concurrent)

    async def cleanup(self, data: Any = None, rigs: list[str] | None = None, concurrent: bool = True) -> dict[str, Any]:
        """Clean up the rigs, in reverse order."""
        return await self._send(Event.CLEANUP, [data], rigs, concurrent)

    @reads
    async def status(self, rigs: list[str] | None = None) -> dict[str, Any]:
        """Ask each rig for its status."""
        return await self._send(Event.STATUS, [0], rigs, True)

    @reads
    async def info(self, rigs: list[str] | None = None) -> dict[str, Any]:
        """Ask each rig for its details."""
        return await self._send(Event.INFO, [0, None], rigs, True)

    async def _send(self, event: Event, args: list[Any], rigs: list[str] | None, concurrent: bool) -> dict[str, Any]:
        unknown = sorted(set(rigs or ()) - set(self._group.rigs))
        if unknown:
            raise NotFound(f"no rig named {', '.join(unknown)}")
        return (await self._group.send(event, args, rigs=rigs, concurrent=concurrent)).as_dict()


# -- labdeck rig serve ------------------------------------------------------------------


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rig_command", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="answer rig messages on URI with the given handlers")
    serve.add_argument("uri", metavar="URI",
                       help="udp://HOST:PORT, tcp://, tls:// (with --cert), or ws:// in iblutil mode (port 11001)")
    serve.add_argument("--mode", choices=MODES, default="labdeck", help="wire mode (default labdeck)")
    serve.add_argument("--handlers", metavar="MODULE:OBJ", help="the handlers (default: a simulated rig)")
    serve.add_argument("--key", metavar="KEY", help="labdeck mode's shared key")
    serve.add_argument("--cert", metavar="FILE", help="for tls://: the rig's certificate (PEM, from labdeck cert)")
    serve.add_argument("--cert-key", metavar="FILE", help="for tls://: the certificate's private key (PEM)")
    remote.add_parsers(sub)


def _run(args: argparse.Namespace) -> int:
    return serve_rig(args) if args.rig_command == "serve" else remote.drive(args)


def serve_rig(args: argparse.Namespace) -> int:
    """``labdeck rig serve``: run one rig endpoint until interrupted."""
    if args.handlers:
        import_from(os.getcwd())  # --handlers myrig:Camera with myrig.py here
    handlers = load_handlers(args.handlers) if args.handlers else SimulatedRig()
    endpoint = RigEndpoint(args.uri, handlers, mode=args.mode, key=args.key.encode() if args.key else None,
                           ssl_context=_serving_context(args))

    async def run() -> None:
        await endpoint.start()
        print(f"rig serving {endpoint.uri} ({args.mode} mode)", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await endpoint.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


def _serving_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The TLS context of ``--cert``/``--cert-key``; both or neither, and only for tls://.

    Raises:
        ConfigError: one without the other, either for a rig that is not tls://, a
            tls:// rig without them, or files that cannot be loaded.
    """
    tls = parse_uri(args.uri, args.mode).tls
    if bool(args.cert) != bool(args.cert_key):
        raise ConfigError("--cert and --cert-key go together")
    if args.cert and not tls:
        raise ConfigError(f"--cert: only a tls:// rig serves a certificate, not {args.uri}")
    if tls and not args.cert:
        raise ConfigError("a tls:// rig needs --cert and --cert-key (make them with `labdeck cert --host NAME`)")
    return server_context(args.cert, args.cert_key) if tls else None


class RigsCapability(Capability):
    """The rigs of ``[rigs.<name>]``, driven together (see :class:`~labdeck.rigs.group.RigGroup`)."""

    name = "rigs"
    single = True  # one server process of a deployment drives the rigs
    config_type = dict[str, RigConfig]
    channels = ("rigs/",)
    static = Path(__file__).parent / "static"
    panels = (Panel("rigs", "Rigs", "rigs.js", order=60, css="rigs.css", role="viewer", summary="rigs-summary.js"),)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.group = RigGroup.from_config(ctx.config or {}, ctx.publish)
        self.object = RigsObject(self.group)
        ctx.listen("run/rigs", self._sent_by_script)

    def _sent_by_script(self, ch: str, report: Any) -> None:
        """A request a run's script sent a rig itself (the runner publishes it on ``run/rigs``):
        shown as if the server had sent it, marked with the run; a rig the server does not
        drive is left out."""
        if ch != "run/rigs" or not isinstance(report, dict) or report.get("rig") not in self.group.views:
            return
        try:
            done = RigOutcome(report["rig"], Event(report["event"]), report["outcome"], report.get("rtt_ms"),
                              report.get("data"), report.get("error"))
        except (KeyError, ValueError, TypeError):
            return
        if done.outcome in ("ok", "error", "timeout"):
            self.group.record(done, via=f"run {report.get('run')}")

    def objects(self) -> Mapping[str, Exposed]:
        return {"rigs": Exposed(self.object, Policy(allow=RIGS_METHODS))}

    def routes(self) -> Sequence[Route]:
        return [Route("GET", "/api/rigs", _list_rigs, openapi=_spec("/api/rigs", "Every rig's state")),
                Route("GET", "/api/rigs/status", _ask("status"), openapi=_spec("/api/rigs/status", "Ask rigs")),
                Route("GET", "/api/rigs/info", _ask("info"), openapi=_spec("/api/rigs/info", "Ask rigs for info"))]

    async def start(self) -> None:
        self.group.announce()
        if len(self.group):
            self.ctx.log.info("driving %d rig(s): %s", len(self.group), ", ".join(self.group.rigs))

    async def stop(self) -> None:
        await self.group.close()

    commands = (Command("rig", "serve a rig over UDP or TCP, or drive a running server's rigs", _configure, _run),)


def _spec(path: str, summary: str) -> dict[str, Any]:
    return {path: {"get": {"summary": summary, "responses": {
        "200": {"description": "success", "content": {"application/json": {}}}}}}}


async def _list_rigs(request: web.Request) -> web.Response:
    cap = capability_of(request)
    assert isinstance(cap, RigsCapability)
    return web.json_response(cap.object.rigs())


def _ask(what: str) -> Any:
    async def handle(request: web.Request) -> web.Response:
        cap = capability_of(request)
        assert isinstance(cap, RigsCapability)
        method = cap.object.status if what == "status" else cap.object.info
        return web.json_response(await method())

    return handle


