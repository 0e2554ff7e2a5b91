"""The capability interface: how the runner, watches, rigs and a lab's own code plug in.

A capability is a class. It declares, as class attributes, what it needs and offers;
the deck composes the capabilities a configuration enables and knows none of them by
name::

    class Stage(Capability):
        name = "stage"                    # also its config section, [stage]
        config_type = StageConfig         # a msgspec Struct; None: no section
        channels = ("stage/",)            # channel prefixes it publishes on
        panels = (Panel("stage", "Stage", "stage.js", order=60),)
        static = Path(__file__).parent / "static"   # served at static/cap/stage/

        def __init__(self, ctx: Context) -> None:
            super().__init__(ctx)
            self.device = StageDevice(ctx.config, ctx.publish)

        def objects(self) -> dict[str, Exposed]:
            return {"stage": Exposed(self.device)}

        def routes(self) -> list[Route]:
            return [Route("GET", "/api/stage", self.position)]

        async def start(self) -> None: ...
        async def stop(self) -> None: ...

The contract, in the order the deck calls it:

1. ``__init__(ctx)`` when the :class:`~labdeck.deck.Deck` is made: no I/O, no event
   loop yet. ``ctx.config`` is the capability's decoded section (or ``None`` when it
   has none or the section is absent and the capability is built in).
2. :meth:`Capability.objects` and :meth:`Capability.routes`, once, right after; what
   they return is exposed and mounted for the server's life.
3. ``await start()`` once the store is open and the server listens, capabilities in
   the order they were enabled; ``await stop()`` at shutdown, in reverse order, also
   when a later capability failed to start.

A capability never imports :mod:`labdeck.deck` or :mod:`labdeck.web.app`: everything it
may use of the server comes through its :class:`Context`. Third-party capabilities are
found through the entry-point group ``labdeck.capabilities`` (see
:mod:`labdeck.capabilities` and ``docs/howto/write-a-capability.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import web

from labdeck.exceptions import StoreError
from labdeck.types import Publish, Role

if TYPE_CHECKING:
    from labdeck.broker.locks import Leases
    from labdeck.config import Config
    from labdeck.objects import Policy
    from labdeck.store import Store

__all__ = ["Capability", "Command", "Context", "Exposed", "Handler", "Listener", "Panel", "Route", "capability_of"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Listener = Callable[[str, Any], None]
"""Told ``(channel, data)`` of a message another capability published (see :attr:`Context.listen`)."""


@dataclass(frozen=True)
class Route:
    """One HTTP route a capability adds, under the server's base path.

    Attributes:
        method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
        path: an aiohttp route path, e.g. ``/api/runs/{id:\\d+}``.
        handler: the request handler.
        role: the least role a client needs; ``None`` means the method decides:
            ``viewer`` for ``GET``, ``operator`` for everything else.
        openapi: the OpenAPI operation object describing it, if it is part of the REST API.
    """

    method: str
    path: str
    handler: Handler
    role: Role | None = None
    openapi: Mapping[str, Any] | None = None

    @property
    def needs(self) -> Role:
        """The role the route requires."""
        if self.role is not None:
            return self.role
        return "viewer" if self.method in ("GET", "HEAD") else "operator"


@dataclass(frozen=True)
class Panel:
    """One dashboard panel, an ES module whose default export is the panel object.

    Attributes:
        id: the panel's hash route (``#id``) and DOM id; unique across the server.
        title: the navigation label.
        module: the module's file, relative to the capability's ``static`` folder; a
            path starting with ``static/`` is relative to the dashboard instead.
        order: position in the navigation, lowest first.
        css: a stylesheet to load with it, resolved like ``module``.
        role: the least role that sees the panel.
        summary: an optional module, resolved like ``module``, for the panel's card on the
            Overview: its default export's ``mount(card, ctx)`` fills a small element with
            what matters at a glance (the stations' state, the rigs' links) and may return
            a cleanup function; a ``title`` beside ``mount`` names the card (else the
            panel's title does). A user chooses which cards their Overview shows.
    """

    id: str
    title: str
    module: str
    order: int = 100
    css: str | None = None
    role: Role = "viewer"
    summary: str | None = None


@dataclass(frozen=True)
class Command:
    """A ``labdeck`` sub-command a capability adds to the command line.

    Attributes:
        name: the sub-command, e.g. ``"stage"`` for ``labdeck stage ...``.
        help: one line for ``labdeck --help``.
        configure: adds the sub-command's arguments to its parser.
        run: runs it; returns the exit code. ``args.config`` is the ``--config`` file.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Exposed:
    """An object a capability lets browsers reach, with its access policy."""

    obj: Any
    policy: Policy | None = None


@dataclass
class Context:
    """What a capability may use of the server: narrow on purpose.

    Attributes:
        name: the capability's name.
        config: its decoded config section, or ``None``.
        project: the whole configuration, for paths (``project.resolve``,
            ``project.data_dir``) and the core sections; read it, never change it.
        publish: publishes ``(channel, data)``; safe from any thread.
        expose: exposes a further object at run time, like :meth:`Capability.objects`.
        log: the capability's logger (``labdeck.cap.<name>``).
        listen: ``listen(prefix, fn)``: from then on, ``fn(channel, data)`` on the event
            loop for each message another capability of this server publishes on a
            channel starting with ``prefix`` (not what browsers publish); how one
            capability hears of another's events without either importing the other.
    """

    name: str
    config: Any
    project: Config
    publish: Publish
    expose: Callable[[str, Any, Policy | None], None]
    log: logging.Logger
    listen: Callable[[str, Listener], None] = field(default=lambda prefix, fn: None, repr=False)
    _store: Store | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _leases: Leases | None = field(default=None, repr=False)

    @property
    def leases(self) -> Leases:
        """Locks one server process holds at a time among all that share the broker
        (:mod:`labdeck.broker.locks`); from :meth:`Capability.start` on.

        Raises:
            RuntimeError: read before the server started.
        """
        if self._leases is None:
            raise RuntimeError(f"capability {self.name!r}: leases exist only once the server has started")
        return self._leases

    @property
    def store(self) -> Store:
        """The server's store; from :meth:`Capability.start` on.

        Raises:
            StoreError: read before the server started.
        """
        if self._store is None:
            raise StoreError(f"capability {self.name!r}: the store is open only once the server has started")
        return self._store

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The server's event loop; from :meth:`Capability.start` on."""
        if self._loop is None:
            raise RuntimeError(f"capability {self.name!r}: the event loop runs only once the server has started")
        return self._loop


def capability_of(request: web.Request) -> Capability:
    """The capability whose :class:`Route` is answering ``request``."""
    return request[_REQUEST_KEY]


class Capability:
    """Base class of every capability; see the module docstring for the contract.

    Class attributes a subclass sets:

    * ``name``: unique; for a third-party capability also its entry-point name and
      config section.
    * ``config_type``: the type its section decodes into (a msgspec Struct, or a
      ``dict[str, Struct]`` for ``[watch.<name>]``-style tables); ``None``: no section.
    * ``always``: enabled whatever the configuration says (the runner); any other
      capability, shipped with labdeck or installed, is enabled by the presence of its
      section (``[watch.scanner]`` enables ``watch``).
    * ``single``: with several server processes sharing a broker, only one runs it at a
      time (a watch, a rig group: :mod:`labdeck.owner`); the others stand by.
    * ``channels``: channel-name prefixes it publishes on (``"run/"``).
    * ``panels``, ``static``: its dashboard panels and the folder they are served from.
    * ``commands``: its CLI sub-commands.
    * ``openapi_schemas``: OpenAPI component schemas its routes' descriptions refer to
      (``{"$ref": "#/components/schemas/Run"}``).
    """

    name: ClassVar[str] = ""
    config_type: ClassVar[Any] = None
    always: ClassVar[bool] = False
    single: ClassVar[bool] = False
    channels: ClassVar[tuple[str, ...]] = ()
    panels: ClassVar[tuple[Panel, ...]] = ()
    static: ClassVar[Path | None] = None
    commands: ClassVar[tuple[Command, ...]] = ()
    openapi_schemas: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def objects(self) -> Mapping[str, Exposed]:
        """Objects to expose, by name; called once, before the server starts."""
        return {}

    def routes(self) -> Sequence[Route]:
        """HTTP routes to add; called once, before the server starts."""
        return ()

    async def start(self) -> None:
        """Begin work: the store is open and the server listens."""

    async def stop(self) -> None:
        """End work and release everything :meth:`start` took; must not raise."""

    def health(self) -> Mapping[str, Any]:
        """What ``/healthz`` shows for this capability; empty (the default) shows nothing.

        A capability that can fail while the server keeps serving (a watcher, a rig
        link) reports it here; ``"ok": False`` makes the server's status ``degraded``
        (still 200: the server serves).
        """
        return {}

    def __repr__(self) -> str:
        return f"<capability {self.name}>"

    def bind(self, route: Route) -> Handler:
        """``route``'s handler with this capability set for :func:`capability_of`."""
        handler = route.handler

        async def handle(request: web.Request) -> web.StreamResponse:
            request[_REQUEST_KEY] = self
            return await handler(request)

        return handle


_REQUEST_KEY: web.RequestKey[Capability] = web.RequestKey("labdeck.capability")
