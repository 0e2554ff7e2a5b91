"""``Deck``: one labdeck server, for the command line and for embedding in Python.

::

    deck = labdeck.Deck(config="labdeck.toml")
    deck.expose("sample", obj)
    deck.publish("demo/value", 42)      # from any thread
    deck.run()                          # blocks until Ctrl-C

What the server can do comes from its *capabilities* (:mod:`labdeck.capability`): the
runner, and whatever the configuration enables. The deck composes them and knows none
of them by name. Smaller helpers that only live as long as the server (the demo's
sources) can be *services*: objects with ``async start(deck)`` and ``async stop()``.
Both start in order once the web server listens and stop in reverse.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

from labdeck import capabilities as registry
from labdeck.admin.service import Admin
from labdeck.auth.shared_throttle import SharedThrottle
from labdeck.auth.throttle import LoginThrottle
from labdeck.broker import Budget, open_broker
from labdeck.capability import Capability, Context, Listener, Route
from labdeck.config import Config, check_listen, load_config
from labdeck.eventloop import loop_factory
from labdeck.exceptions import ConfigError
from labdeck.hub import Hub, check_channel_name
from labdeck.hub.inbox import ThreadInbox
from labdeck.objects import Objects, Policy
from labdeck.owner import Owned
from labdeck.protocol.wire import encode_data
from labdeck.store import Store, store_target
from labdeck.web.auth import Gate
from labdeck.web.stats import access_logger

__all__ = ["Deck", "Service"]

log = logging.getLogger(__name__)


class Service(Protocol):
    """Something that runs alongside the server."""

    async def start(self, deck: Deck) -> None: ...

    async def stop(self) -> None: ...


class _Started:
    """A started capability (or the gate), stopped like a service."""

    def __init__(self, cap: Capability | Gate | Admin) -> None:
        self.cap = cap

    async def start(self, deck: Deck) -> None:
        await self.cap.start()

    async def stop(self) -> None:
        await self.cap.stop()

    def __repr__(self) -> str:
        return repr(self.cap)


class Deck:
    """A labdeck server.

    Args:
        config: a :class:`Config`, a path to a TOML file, or ``None`` for
            ``./labdeck.toml`` when present, else the defaults.
        capabilities: further capability classes to enable, beside the built-in ones and
            those the configuration's sections enable (for embedding and tests; installed
            packages use the ``labdeck.capabilities`` entry points).
        **overrides: ``server_port=0``-style overrides of ``[section] key`` values.

    Raises:
        ConfigError: the configuration is invalid, or a capability it enables is missing.
        ValueError: two capabilities share a name.
    """

    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        capabilities: Sequence[type[Capability]] = (),
        **overrides: Any,
    ) -> None:
        if not isinstance(config, Config):
            config = load_config(config, overrides={k.replace("_", ".", 1): v for k, v in overrides.items()},
                                 capabilities=capabilities)
        elif overrides:
            raise TypeError("overrides go with a config path, not with a Config object")
        self.config = config
        server = config.server
        budget = Budget(server.max_channels, server.max_retained_bytes, idle=server.channel_idle)
        self.broker = open_broker(
            config.broker.url, server.history, server.history_bytes, budget, prefix=config.broker.prefix
        )
        self.objects = Objects(self.publish)
        self.hub = Hub(self.broker, self.objects, debug=server.debug, max_depth=server.max_depth)
        self.services: list[Service] = []
        self.routes: list[Callable[[web.Application], None]] = []
        self.capabilities: dict[str, Capability] = {}
        """The enabled capabilities by name, in start order."""
        self.cap_routes: list[tuple[Capability, Route]] = []
        self.store: Store | None = None
        self.gate: Gate | None = None
        """Users, tokens and sessions, once started."""
        self.owned: dict[str, Owned] = {}
        """Capabilities one process of the deployment runs (``single``), by name."""
        self.admin: Admin | None = None
        """Request statistics, audit log, switches, maintenance mode and jobs, once started."""
        self.started_at = time.time()
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early: list[tuple[str, bytes]] = []
        self._early_lock = threading.Lock()  # a publish is either held in _early or on the loop, never lost
        self._inbox: ThreadInbox | None = None  # publishes from other threads, once started
        self._loop_thread = 0  # the ident of the thread that runs the loop, once started
        self._started: list[Service] = []
        self._listeners: list[tuple[str, Listener]] = []
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        given = {cls.name for cls in capabilities}
        for cls in [*registry.resolve(name for name in config.sections if name not in given), *capabilities]:
            if cls.name in self.capabilities:
                raise ValueError(f"capability {cls.name!r} is added twice")
            self._add_capability(cls)

    def _add_capability(self, cls: type[Capability]) -> None:
        ctx = Context(name=cls.name, config=self.config.sections.get(cls.name), project=self.config,
                      publish=self._published_by_capability, expose=self.expose,
                      log=logging.getLogger(f"labdeck.cap.{cls.name}"), listen=self._listen)
        cap = cls(ctx)
        self.capabilities[cls.name] = cap
        for name, exposed in cap.objects().items():
            self.objects.expose(name, exposed.obj, exposed.policy)
        self.cap_routes.extend((cap, route) for route in cap.routes())

    # -- publishing -----------------------------------------------------------------

    def expose(self, name: str, obj: Any, policy: Policy | None = None) -> None:
        """Let browsers reach ``obj`` as ``name`` (get, set, call, del, dir) under ``policy``.

        Observed attributes publish their changes on ``obj/<name>/<attr>``. See
        ``docs/howto/expose-objects.md``.

        Raises:
            ValueError: ``name`` is unusable or taken, or ``obj`` cannot be exposed.
        """
        self.objects.expose(name, obj, policy)

    def publish(self, ch: str, data: Any) -> None:
        """Publish ``data`` on channel ``ch``; safe from any thread, before or after start.

        The value is encoded in the caller's thread, so a value JSON cannot carry
        raises :class:`NotSerializable` here. Messages from one thread keep their order.
        From another thread, messages reach the loop in batches, one wake-up per batch
        (:mod:`labdeck.hub.inbox`). Before the server starts, messages wait and are
        published at start.
        """
        check_channel_name(ch)
        data_bytes = encode_data(data)
        inbox = self._inbox
        if inbox is None:
            with self._early_lock:
                inbox = self._inbox
                if inbox is None:
                    self._early.append((ch, data_bytes))
                    return
        if self._on_loop_thread():
            self.broker.publish_nowait(ch, data_bytes)
        else:
            inbox.put(ch, data_bytes)

    def _set_debug(self, on: bool) -> None:
        self.hub.debug = on

    def _listen(self, prefix: str, fn: Listener) -> None:
        self._listeners.append((prefix, fn))

    def _published_by_capability(self, ch: str, data: Any) -> None:
        """A capability's publish: published, then told to the capabilities listening (Context.listen)."""
        self.publish(ch, data)
        for prefix, fn in self._listeners:
            if ch.startswith(prefix):
                if self._loop is not None and not self._on_loop_thread():
                    self._loop.call_soon_threadsafe(fn, ch, data)
                    continue
                try:
                    fn(ch, data)
                except Exception:
                    log.exception("a capability listening to %s failed", ch)

    def _on_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

    # -- life cycle -----------------------------------------------------------------

    def _shared_throttle(self) -> SharedThrottle | None:
        """Login failures counted across the deployment, when its broker is Redis."""
        client = getattr(self.broker, "client", None)
        if not self.shared or client is None:
            return None
        throttle = LoginThrottle.from_config(self.config.auth)
        return SharedThrottle(throttle, client, self.config.broker.prefix)

    @property
    def shared(self) -> bool:
        """Whether other server processes share this one's broker (a Redis url)."""
        return self.config.broker.url not in (None, "", "memory://")

    @property
    def url(self) -> str:
        """The dashboard's address, once started."""
        s = self.config.server
        host = f"[{s.host}]" if ":" in s.host else s.host
        scheme = "https" if self.config.tls.enabled else "http"
        return f"{scheme}://{host}:{self.port}{s.base_path}/"

    def _tls(self) -> ssl.SSLContext | None:
        """The server's TLS context from ``[tls]``, or ``None`` for plain HTTP.

        Raises:
            ConfigError: the certificate or key cannot be read or do not match.
        """
        tls = self.config.tls
        if tls.cert is None or tls.key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        cert, key = self.config.resolve(tls.cert), self.config.resolve(tls.key)
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{self.config.path or 'config'}: `tls`: cannot use {cert} and {key}: {exc}") from None
        return context

    async def _listen_for_revocations(self, gate: Gate) -> None:
        from labdeck.auth.revocation import ControlListener, Notice, announce

        client, prefix = getattr(self.broker, "client", None), self.config.broker.prefix
        if client is None:
            return

        async def tell(notice: Notice) -> None:
            await announce(client(), prefix, notice)

        gate.announce = tell
        listener = ControlListener(client, prefix, gate.revoked)
        await listener.start()
        self._started.append(listener)

    def add_service(self, service: Service) -> None:
        """Start ``service`` with the server; services are added before it starts."""
        if self._runner is not None:
            raise RuntimeError("add services before the deck starts")
        self.services.append(service)

    async def start(self) -> None:
        """Open the store, start the hub, listen, then start every service."""
        from labdeck.web.app import make_app

        self.objects.load(self.config.objects, self.config.path or "config")  # before _loop: publishes wait
        self.started_at = time.time()
        data = self.config.data_dir
        check_listen(self.config)  # also for a Config made in Python, without load_config
        self.store = await asyncio.to_thread(Store, store_target(self.config))
        self.gate = Gate(self.config, self.store, self._shared_throttle())
        self.gate.connections = lambda: self.hub.connections
        self.admin = Admin(self.config, self.store, self.gate.sweep, self._set_debug)
        await self.admin.load()
        await self.hub.start()
        if self.shared:  # one @exclusive call at a time in the whole deployment, not per process
            self.objects.share_locks(self.broker.leases, self.config.broker.lease_ttl)
        # Held messages go out before any later publish: _inbox is set only once they are
        # published, under the lock a publishing thread takes while _inbox is unset.
        with self._early_lock:
            for ch, payload in self._early:
                self.broker.publish_nowait(ch, payload)
            self._early.clear()
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
            self._inbox = ThreadInbox(self._loop, self.broker.publish_nowait)
        self._runner = web.AppRunner(make_app(self), access_log=logging.getLogger("labdeck.web.access"),
                                     access_log_class=access_logger(self.admin.stats, self.admin.switches),
                                     handle_signals=False)
        await self._runner.setup()
        s = self.config.server
        site = web.TCPSite(self._runner, s.host, s.port, reuse_address=True, reuse_port=s.workers > 1 or None,
                           ssl_context=self._tls())
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else s.port
        loop = asyncio.get_running_loop()
        await self.gate.start()
        self._started.append(_Started(self.gate))
        if self.shared:  # a session ended or a token revoked elsewhere closes its websockets here too
            await self._listen_for_revocations(self.gate)
        await self.admin.start()
        self._started.append(_Started(self.admin))
        for cap in self.capabilities.values():
            cap.ctx._store, cap.ctx._loop, cap.ctx._leases = self.store, loop, self.broker.leases
            if cap.single and self.shared:
                owned = Owned(cap, self.broker.leases, self.config.broker.lease_ttl)
                await owned.start()
                self.owned[cap.name] = owned
                self._started.append(owned)
                continue
            await cap.start()
            self._started.append(_Started(cap))
        for service in self.services:
            await service.start(self)
            self._started.append(service)
        log.info("labdeck serving %s (data in %s)", self.url, data)

    async def stop(self) -> None:
        """Stop services in reverse order, close connections, the listener and the store."""
        while self._started:
            service = self._started.pop()
            try:
                await service.stop()
            except Exception:
                log.exception("stopping %r failed", service)
        await self.hub.close()
        self.objects.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.admin is not None and self.store is not None:
            try:  # what was answered while the rest stopped
                await self.admin.rollup()
            except Exception:
                log.exception("the last roll-up of the request statistics failed")
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
            self.store = None
        with self._early_lock:
            self._inbox, self._loop, self._loop_thread = None, None, 0

    async def serve_forever(self) -> None:
        """Start, wait for SIGINT/SIGTERM (or :meth:`shutdown`), then stop."""
        await self._serve(lambda failure: None)

    async def _serve(self, started: Callable[[BaseException | None], None]) -> None:
        """:meth:`serve_forever`, telling ``started`` once listening, or why it could not start.

        Signals are handled only when serving from the main thread.
        """
        self._stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        # Before starting: a Ctrl-C while starting stops the server once it is up, instead
        # of a KeyboardInterrupt traceback from the middle of the start.
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._interrupted, sig)
                installed.append(sig)
        try:
            try:
                await self.start()
            except BaseException as exc:
                started(exc)
                raise
            started(None)
            try:
                await self._stop_event.wait()
            finally:
                await self.stop()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _interrupted(self, sig: signal.Signals) -> None:
        """Ctrl-C (or SIGTERM): stop, saying so; a second one quits at once."""
        assert self._stop_event is not None
        if not self._stop_event.is_set():
            print(f"labdeck: {sig.name}: stopping (a running script is stopped too; "
                  "press Ctrl-C again to quit at once)", file=sys.stderr, flush=True)
            self._stop_event.set()
            return
        print("labdeck: quitting now", file=sys.stderr, flush=True)
        os._exit(128 + sig.value)

    def shutdown(self) -> None:
        """Ask :meth:`serve_forever` to return; safe from any thread."""
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None:
            loop.call_soon_threadsafe(event.set)

    def run(self) -> None:
        """Serve until interrupted, on uvloop when it is installed."""
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(self.serve_forever())

    def run_in_thread(self, timeout: float = 10.0) -> None:
        """Serve from a background thread; returns once the server is listening.

        For notebooks and plain scripts: ``deck.publish`` works from the calling thread
        while the server runs. :meth:`shutdown` then :meth:`join` ends it.
        """
        ready = threading.Event()
        failure: list[BaseException] = []

        def started(exc: BaseException | None) -> None:
            if exc is not None:
                failure.append(exc)
            ready.set()

        def target() -> None:
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                try:
                    runner.run(self._serve(started))
                except BaseException:
                    if not failure:
                        raise

        self._thread = threading.Thread(target=target, name="labdeck-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"labdeck did not start within {timeout} s")
        if failure:
            raise failure[0]

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background thread of :meth:`run_in_thread` to end."""
        if self._thread is not None:
            self._thread.join(timeout)

