"""iblutil's rig messaging API (``iblutil.io.net.app``, 1.20) on labdeck's rigs.

Code written for iblutil runs with its import changed::

    from labdeck.compat.iblutil import EchoProtocol, Services   # was: from iblutil.io.net.app import ...

* ``await EchoProtocol.client(uri, name=...)``: the controlling side of one rig, a
  :class:`~labdeck.rigs.link.Rig`. ``init``, ``start(exp_ref)``, ``stop(immediately=...)``,
  ``cleanup``, ``status``, ``info`` and ``alyx`` send and return once the rig has the
  message (its echo, as iblutil's ``confirmed_send``); the rig's answer comes to
  ``on_event`` and the callbacks as ``(data, addr)``, ``data`` being the answer's
  arguments. An answer no one waits for yet is kept for the next ``on_event`` of its
  event, so ``await com.init(x); await com.on_event("EXPINIT")`` never misses a quick rig.
* ``await EchoProtocol.server(uri, name=...)``: the rig side, a
  :class:`~labdeck.rigs.endpoint.RigEndpoint` whose requests go to the callbacks as
  ``(data, addr)``; the rig answers with the same call, ``await com.init(answer, addr=addr)``.
* ``Services(rigs, timeout=...)``: several clients driven together, ``{name: data}`` back.

Both speak iblutil's bytes by default (``mode="iblutil"``), so either end may be iblutil
itself; ``mode="labdeck"`` gives retransmission and de-duplication between labdeck peers.
What differs from iblutil: a timeout is :class:`TimeoutError` as there, but names the rig;
duplicated datagrams never fire a callback twice; two sends in flight do not break each
other. See ``docs/howto/migrate-iblutil.md``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import UserDict, defaultdict, deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from labdeck.exceptions import LabdeckError, RigFailed
from labdeck.protocol import rigibl
from labdeck.protocol.rig import Event
from labdeck.protocol.rigibl import IblEvent
from labdeck.rigs.address import Mode
from labdeck.rigs.endpoint import RigEndpoint
from labdeck.rigs.handlers import Done
from labdeck.rigs.link import ECHO_TIMEOUT, Rig, event_of

__all__ = ["EchoProtocol", "ExpMessage", "ExpStatus", "Services"]

log = logging.getLogger(__name__)

Callback = Callable[..., Any] | asyncio.Future[Any]
Addr = tuple[str, int]


class ExpMessage(enum.IntFlag):
    """iblutil's events (``iblutil.io.net.base.ExpMessage``); names, numbers and these all work."""

    EXPINIT = 1
    EXPSTART = 2
    EXPEND = 4
    EXPCLEANUP = 8
    EXPINTERRUPT = 16
    EXPSTATUS = 32
    EXPINFO = 64
    ALYX = 128


class ExpStatus(enum.IntEnum):
    """iblutil's experiment statuses, for ``status()`` and ``info()``."""

    CONNECTED = 0
    INITIALIZED = 10
    RUNNING = 20
    STOPPED = 30


def _no_socket_options(role: str, options: dict[str, Any]) -> None:
    """iblutil hands extra keywords to asyncio's socket calls; labdeck sets its sockets up itself."""
    if options:
        raise TypeError(f"EchoProtocol.{role}: socket options are not supported on labdeck: {', '.join(options)}")


def _status(status: Any) -> int:
    return int(ExpStatus[status] if isinstance(status, str) else status)


def _exp_ref(exp_ref: Any) -> str | None:
    if isinstance(exp_ref, dict):  # iblutil accepts {"date", "sequence", "subject"}
        return f"{exp_ref['date']}_{int(exp_ref['sequence'])}_{exp_ref['subject']}"
    return exp_ref or None


def _alyx(alyx: Any) -> list[Any]:
    """An AlyxClient (or ``None``) as the token exchange's arguments, as iblutil sends them."""
    base_url = alyx.base_url if alyx else None
    token = {alyx.user: alyx._token} if alyx and getattr(alyx, "is_logged_in", False) else {}
    return [base_url, token]


class EchoProtocol:
    """One end of a rig link in iblutil's shape; make one with :meth:`client` or :meth:`server`."""

    default_echo_timeout = ECHO_TIMEOUT
    """Seconds a send waits for the rig to have it, as iblutil's."""

    def __init__(self, server_uri: str, role: str, name: str | None = None) -> None:
        self.server_uri, self.role, self.name = server_uri, role, name or server_uri
        self._callbacks: dict[Event, list[Callback]] = defaultdict(list)
        self._unclaimed: dict[Event, tuple[Any, Any]] = {}
        self._rig: Rig | None = None
        self._endpoint: _Endpoint | None = None
        self._sending: set[asyncio.Future[Any]] = set()
        self._closed = False

    @staticmethod
    async def client(server_uri: str, name: str | None = None, log: logging.Logger | None = None, *,
                     mode: Mode = "iblutil", timeout: float = 10.0, **kwargs: Any) -> EchoProtocol:
        """The controlling side of the rig at ``server_uri`` (``udp://`` or iblutil's ``ws://``;
        ``tcp://`` and ``tls://`` too in labdeck mode).

        Args:
            log: accepted for iblutil's signature; labdeck logs under ``labdeck.compat.iblutil``.
            timeout: how long a send's answer may take before it is given up.

        Raises:
            TypeError: socket options in ``kwargs``, which labdeck does not pass on.
        """
        _no_socket_options("client", kwargs)
        com = EchoProtocol(server_uri, "client", name)
        com._rig = Rig(server_uri, com.name, mode=mode, timeout=timeout)
        await com._rig._connect()
        return com

    @staticmethod
    async def server(server_uri: str, name: str | None = None, log: logging.Logger | None = None, *,
                     mode: Mode = "iblutil", **kwargs: Any) -> EchoProtocol:
        """The rig side, listening on ``server_uri``."""
        _no_socket_options("server", kwargs)
        com = EchoProtocol(server_uri, "server", name)
        com._endpoint = _Endpoint(server_uri, com, mode)
        await com._endpoint.start()
        return com

    # -- what iblutil's EchoProtocol offers ----------------------------------------------

    @property
    def is_connected(self) -> bool:
        if self._rig is not None:
            return self._rig._is_open()
        return self._endpoint is not None and self._endpoint.listening

    def awaiting_response(self, addr: Addr | None = None) -> bool:
        """Whether a send still waits for the rig to have it."""
        return any(not f.done() for f in self._sending)

    async def init(self, data: Any = None, addr: Addr | None = None) -> None:
        await self._send(Event.INIT, [data], addr)

    async def start(self, exp_ref: Any, data: Any = None, addr: Addr | None = None) -> None:
        await self._send(Event.START, [_exp_ref(exp_ref), data], addr)

    async def stop(self, data: Any = None, immediately: bool = False, addr: Addr | None = None) -> None:
        await self._send(Event.INTERRUPT if immediately else Event.STOP, [data], addr)

    async def cleanup(self, data: Any = None, addr: Addr | None = None) -> None:
        await self._send(Event.CLEANUP, [data], addr)

    async def status(self, status: Any, addr: Addr | None = None) -> None:
        await self._send(Event.STATUS, [_status(status)], addr)

    async def info(self, status: Any, data: Any = None, addr: Addr | None = None) -> None:
        await self._send(Event.INFO, [_status(status), data], addr)

    async def alyx(self, alyx: Any = None, addr: Addr | None = None) -> Any:
        """Send an AlyxClient's token; with none, ask for the rig's and return ``[base_url, {user: token}]``."""
        args = _alyx(alyx)
        if all(args):
            await self._send(Event.TOKEN, args, addr)
            return None
        waiting = asyncio.get_running_loop().create_future()
        self.assign_callback("ALYX", waiting)
        await self._send(Event.TOKEN, args, addr)
        token, _ = await waiting
        return token

    async def confirmed_send(self, data: list[Any], addr: Addr | None = None, timeout: float | None = None) -> None:
        """Send ``[event, *args]`` and wait until the rig has it.

        Raises:
            TimeoutError: not confirmed within ``timeout`` (default :attr:`default_echo_timeout`).
        """
        event, *args = data
        await self._send(event_of(int(event)), args, addr, timeout)

    def assign_callback(self, event: Any, callback: Callback) -> None:
        """``callback(data, addr)`` (or a future, once, with ``(data, addr)``) on each message of ``event``."""
        self._callbacks[event_of(_plain(event))].append(callback)

    def clear_callbacks(self, event: Any, callback: Callback | None = None, cancel_futures: bool = True) -> int:
        """Remove ``callback`` (all, when ``None``) from ``event``; returns how many went."""
        key = event_of(_plain(event))
        kept = [cb for cb in self._callbacks.get(key, []) if callback is not None and cb is not callback]
        gone = [cb for cb in self._callbacks.get(key, []) if cb not in kept]
        for cb in gone:
            if cancel_futures and isinstance(cb, asyncio.Future) and not cb.done():
                cb.cancel()
        self._callbacks[key] = kept
        return len(gone)

    async def on_event(self, event: Any) -> tuple[Any, Any]:
        """The next message of ``event`` as ``(data, addr)`` (an answer that came before, first)."""
        key = event_of(_plain(event))
        if key in self._unclaimed:
            return self._unclaimed.pop(key)
        fut: asyncio.Future[tuple[Any, Any]] = asyncio.get_running_loop().create_future()
        self._callbacks[key].append(fut)
        try:
            return await fut
        finally:
            if fut.cancelled() and fut in self._callbacks.get(key, []):
                self._callbacks[key].remove(fut)  # given up (a Services timeout): not a callback any more

    def close(self) -> None:
        """Close the socket and cancel what waits on it."""
        self._closed = True
        for sending in self._sending:
            sending.cancel()
        for callbacks in self._callbacks.values():
            for cb in callbacks:
                if isinstance(cb, asyncio.Future) and not cb.done():
                    cb.cancel()
        if self._rig is not None:
            self._rig.close_now()
        if self._endpoint is not None:
            self._endpoint.close_now()

    # -- underneath -----------------------------------------------------------------------

    async def _send(self, event: Event, args: list[Any], addr: Addr | None, timeout: float | None = None) -> None:
        if self._endpoint is not None:
            self._endpoint.answer(event, args, addr)
            return
        assert self._rig is not None
        loop = asyncio.get_running_loop()
        confirmed: asyncio.Future[None] = loop.create_future()
        self._unclaimed.pop(event, None)  # an old answer is not this send's
        request = loop.create_task(self._rig.request(event, args, confirmed=confirmed, as_args=True))
        self._sending.add(request)
        request.add_done_callback(lambda done: self._answered(event, done))
        limit = timeout or self.default_echo_timeout
        await asyncio.wait({confirmed, request}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        if confirmed.done():
            return
        if request.done() and not request.cancelled() and isinstance(request.exception(), RigFailed):
            return  # the rig had it and answered with an error: iblutil's [0, "Err: ..."]
        request.cancel()
        raise TimeoutError(f"Failed to receive client response in time ({self.name}: {self.server_uri})")

    def _answered(self, event: Event, request: asyncio.Future[Any]) -> None:
        self._sending.discard(request)
        if request.cancelled():
            return
        error = request.exception()
        if error is not None and not self._closed:
            message = error.message if isinstance(error, LabdeckError) else str(error)
            log.error("%s: %s failed: %s", self.name, _name(event), message)
            return
        if error is not None:
            return
        result = request.result()
        data = result if isinstance(result, list) else [result]
        address = self._rig.address if self._rig else None
        self._deliver(event, data, (address.host, address.port) if address else None)

    def _deliver(self, event: Event, data: Any, addr: Any) -> None:
        """A message of ``event`` came: to every callback, or kept for the next ``on_event``."""
        kept: list[Callback] = []
        claimed = False
        for cb in self._callbacks.get(event, []):
            if isinstance(cb, asyncio.Future):
                if not cb.done():
                    cb.set_result((data, addr))
                    claimed = True
                continue
            kept.append(cb)
            try:
                cb(data, addr)
            except Exception:
                log.exception("%s: a callback for %s failed", self.name, _name(event))
        self._callbacks[event] = kept
        if not claimed:  # for the next on_event, which may come a moment later
            self._unclaimed[event] = (data, addr)


_NAMES = {Event.INIT: "EXPINIT", Event.START: "EXPSTART", Event.STOP: "EXPEND", Event.CLEANUP: "EXPCLEANUP",
          Event.INTERRUPT: "EXPINTERRUPT", Event.STATUS: "EXPSTATUS", Event.INFO: "EXPINFO", Event.TOKEN: "ALYX"}


def _name(event: Event) -> str:
    """iblutil's name of an event (``EXPSTART``)."""
    return _NAMES[event]


def _plain(event: Any) -> Any:
    """iblutil's ExpMessage is an IntFlag: its number; anything else as given."""
    return int(event) if isinstance(event, int) else getattr(event, "name", event)


class _Endpoint(RigEndpoint):
    """The rig side of :meth:`EchoProtocol.server`: requests go to the protocol's callbacks,
    and each waits for the answer the rig's code sends with the same event."""

    def __init__(self, uri: str, com: EchoProtocol, mode: Mode) -> None:
        super().__init__(uri, {}, mode=mode)
        self.com = com
        self.listening = False
        self._asked: dict[Event, deque[tuple[Any, Done, asyncio.Future[Any]]]] = defaultdict(deque)
        self._peers: dict[Any, Hashable] = {}

    async def start(self) -> None:
        await super().start()
        self.listening = True

    def _handle(self, event: Event, args: list[Any], done: Done, peer: Hashable) -> asyncio.Future[Any] | None:
        addr = _addr(peer)
        self._peers[addr] = peer
        pending = asyncio.get_running_loop().create_future()  # until the rig's code answers
        self._asked[event].append((addr, done, pending))
        self.com._deliver(event, list(args), addr)
        return pending

    def answer(self, event: Event, args: list[Any], addr: Any) -> None:
        """The rig's code sent ``event`` with ``args`` to ``addr`` (``None``: whoever asked
        first): the answer to that peer's oldest request of ``event``, or else, in iblutil
        mode, a message of the rig's own.

        Raises:
            ValueError: nothing to answer and no such peer (or labdeck mode, where a rig
                only answers).
        """
        asked = self._asked[event]
        for i, (who, done, pending) in enumerate(asked):
            if addr is None or who == tuple(addr):
                del asked[i]
                pending.set_result(None)
                done(tuple(args) if self.mode == "iblutil" else list(args), None)
                return
        peer = self._peers.get(tuple(addr)) if addr is not None else None
        if self.mode != "iblutil" or peer is None:
            raise ValueError(f"{self.com.name}: no {_name(event)} request from {addr} to answer")
        payload = rigibl.encode_ibl(IblEvent.of(event), list(args))
        self._awaiting_echo[peer, payload] = time.monotonic()
        self._send(payload, peer)

    def close_now(self) -> None:
        self.listening = False
        if self._wire is not None:
            self._wire.close()
        for running in list(self._running):
            running.cancel()


def _addr(peer: Hashable) -> Any:
    if isinstance(peer, tuple):
        return peer[:2]
    transport = getattr(peer, "transport", None)
    name = transport.get_extra_info("peername") if transport is not None else None
    return tuple(name[:2]) if name else peer


class Services(UserDict[str, EchoProtocol]):
    """Several rigs driven together, by name (iblutil's ``Services``).

    Args:
        remote_rigs: :class:`EchoProtocol` clients.
        timeout: seconds to wait for every rig's answer.
    """

    def __init__(self, remote_rigs: Iterable[EchoProtocol], timeout: float = 10.0) -> None:
        super().__init__({rig.name: rig for rig in remote_rigs})
        self.timeout = timeout

    @property
    def is_connected(self) -> bool:
        return bool(self.data) and all(rig.is_connected for rig in self.values())

    def assign_callback(self, event: Any, callback: Callable[..., Any], return_service: bool = False) -> None:
        """``callback(data, addr)`` on every rig (``callback(data, addr, service)`` with ``return_service``)."""
        for service in self.values():
            if return_service:
                service.assign_callback(event, lambda data, addr, s=service: callback(data, addr, s))
            else:
                service.assign_callback(event, callback)

    def clear_callbacks(self, event: Any, callback: Callback | None = None) -> dict[str, int]:
        return {name: rig.clear_callbacks(event, callback) for name, rig in self.items()}

    async def await_all(self, event: Any) -> dict[str, Any]:
        """Every rig's next message of ``event``: ``{name: data}``.

        Raises:
            TimeoutError: naming the rigs that did not answer within :attr:`timeout`.
        """
        tasks = {name: asyncio.ensure_future(rig.on_event(event)) for name, rig in self.items()}
        _, pending = await asyncio.wait(tasks.values(), timeout=self.timeout or None)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            late = {name for name, task in tasks.items() if task in pending}
            raise TimeoutError(f"The following services failed to respond in time: {late}")
        return {name: task.result()[0] for name, task in tasks.items()}

    def close(self) -> None:
        for rig in self.values():
            rig.close()

    async def init(self, data: Any = None, concurrent: bool = True) -> dict[str, Any]:
        return await self._signal(Event.INIT, "init", data=data, concurrent=concurrent)

    async def cleanup(self, data: Any = None, concurrent: bool = True) -> dict[str, Any]:
        return await self._signal(Event.CLEANUP, "cleanup", data=data, reverse=True, concurrent=concurrent)

    async def start(self, exp_ref: Any, data: Any = None, concurrent: bool = True) -> dict[str, Any]:
        return await self._signal(Event.START, "start", exp_ref, data=data, concurrent=concurrent)

    async def stop(self, data: Any = None, immediately: bool = False, **kwargs: Any) -> dict[str, Any]:
        event = Event.INTERRUPT if immediately else Event.STOP
        return await self._signal(event, "stop", data=data, immediately=immediately, reverse=True, **kwargs)

    async def status(self, status: Any, **kwargs: Any) -> dict[str, Any]:
        return await self._signal(Event.STATUS, "status", status, **kwargs)

    async def info(self, status: Any, data: Any = None, **kwargs: Any) -> dict[str, Any]:
        return await self._signal(Event.INFO, "info", status, data=data, **kwargs)

    async def alyx(self, alyx: Any) -> None:
        for service in self.values():
            await service.alyx(alyx)

    async def _signal(self, event: Event, method: str, *args: Any, concurrent: bool = True, reverse: bool = False,
                      **kwargs: Any) -> dict[str, Any]:
        order = list(self.items())[::-1] if reverse else list(self.items())
        if concurrent:
            for _, service in order:
                await getattr(service, method)(*args, **kwargs)
            return await self.await_all(event)
        responses: dict[str, Any] = dict.fromkeys(self.keys())
        for name, service in order:
            await getattr(service, method)(*args, **kwargs)
            data, _ = await asyncio.wait_for(service.on_event(event), self.timeout or None)
            responses[name] = data
        return responses
