"""A group of rigs driven together: ``[rigs.<name>]`` in the config, ``{rig: answer}`` out.

Requests go to every rig at once, or in order (``concurrent=False``); stop, interrupt
and cleanup go in reverse order, so the rig started last stops first. Each rig has its
own deadline. A rig that times out or fails is named in :attr:`GroupResult.failures`
while the others' answers are kept. Each rig's state (see
:class:`~labdeck.protocol.rigflow.RigState`), last message and round trip are
published on ``rigs/<name>`` after every request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from labdeck.exceptions import ConfigError, LabdeckError, RigFailed, Timeout
from labdeck.protocol.rig import Event
from labdeck.protocol.rigflow import RigState, rig_state_after
from labdeck.rigs.address import Mode, parse_uri
from labdeck.rigs.link import Rig
from labdeck.rigs.tls import client_context

__all__ = ["REVERSED", "GroupResult", "RigConfig", "RigGroup", "RigOutcome", "RigView"]

REVERSED = frozenset({Event.STOP, Event.INTERRUPT, Event.CLEANUP})
"""Events sent to the rigs in reverse order."""

Publish = Callable[[str, Any], None]
Outcome = Literal["ok", "error", "timeout"]


class RigConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[rigs.<name>]``: one rig the server drives."""

    uri: str
    """``udp://host:port``, ``tcp://``, ``tls://`` (labdeck mode), ``ws://`` (iblutil mode); port 11001 by default."""
    mode: Mode = "labdeck"
    timeout: float = 5.0
    """Seconds each request waits for the rig's answer."""
    key: str | None = None
    """labdeck mode's shared key (HMAC-SHA256 on every message)."""
    ca: str | None = None
    """For ``tls://``: a PEM file of the CA, or the rig's self-signed certificate, to trust
    (absent: the system's CAs). The rig's host must be named in its certificate."""


@dataclass(frozen=True)
class RigOutcome:
    """How one request to one rig ended.

    Attributes:
        outcome: ``"ok"``, ``"error"`` (the rig answered with an error) or ``"timeout"``.
        rtt_ms: the round trip, when ``ok``.
        data: the rig's answer, when ``ok``.
        error: what went wrong, otherwise.
    """

    rig: str
    event: Event
    outcome: Outcome
    rtt_ms: float | None = None
    data: Any = None
    error: str | None = None


@dataclass
class RigView:
    """What the group knows of one rig; published on ``rigs/<name>``."""

    name: str
    uri: str
    mode: str
    state: RigState = RigState.UNKNOWN
    last: dict[str, Any] | None = None
    rtt_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rig": self.name, "uri": self.uri, "mode": self.mode, "state": self.state.value,
                "last": self.last, "rtt_ms": self.rtt_ms}


@dataclass
class GroupResult:
    """The answers of one group request: ``responses`` by rig, and the rigs that failed."""

    event: Event
    responses: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, LabdeckError] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        """``{rig: answer}``, a failed rig's entry being ``{"error": {"type", "message"}}``."""
        out = dict(self.responses)
        for name, exc in self.failures.items():
            out[name] = {"error": {"type": exc.wire_type, "message": exc.message}}
        return out

    def raise_for_failures(self) -> dict[str, Any]:
        """The responses; raises the first failure, naming every rig that failed."""
        if self.failures:
            names = ", ".join(sorted(self.failures))
            first = next(iter(self.failures.values()))
            raise type(first)(f"{self.event.value}: no answer from {names}: "
                              + "; ".join(e.message for e in self.failures.values()))
        return self.responses


class RigGroup:
    """Several rigs, by name, in the order given.

    Args:
        rigs: the :class:`Rig` objects (their ``name`` is their key).
        publish: where state changes go (``publish("rigs/<name>", {...})``), or ``None``.
    """

    def __init__(self, rigs: Iterable[Rig], publish: Publish | None = None,
                 report: Callable[[RigOutcome], None] | None = None) -> None:
        self.rigs: dict[str, Rig] = {r.name: r for r in rigs}
        self.views = {name: RigView(name, str(r.address), r.mode) for name, r in self.rigs.items()}
        self.publish = publish
        self.report = report

    @classmethod
    def from_config(cls, configs: Mapping[str, RigConfig], publish: Publish | None = None,
                    report: Callable[[RigOutcome], None] | None = None) -> RigGroup:
        """Raises: ConfigError: a bad URI, or ``ca`` on a rig that is not ``tls://`` or unreadable."""
        rigs = []
        for name, c in configs.items():
            address = parse_uri(c.uri, c.mode)
            if c.ca is not None and not address.tls:
                raise ConfigError(f"[rigs.{name}] ca: only a tls:// rig uses a CA, this one is {address}")
            context = client_context(c.ca) if address.tls else None
            rigs.append(Rig(c.uri, name, mode=c.mode, timeout=c.timeout,
                            key=c.key.encode() if c.key else None, ssl_context=context))
        return cls(rigs, publish, report)

    def __len__(self) -> int:
        return len(self.rigs)

    def announce(self) -> None:
        """Publish every rig's current view (at start, so a browser sees them before any request)."""
        for view in self.views.values():
            self._publish(view)

    async def send(self, event: Event, args: list[Any], *, rigs: Iterable[str] | None = None,
                   concurrent: bool = True, timeout: float | None = None) -> GroupResult:
        """Send ``event`` with ``args`` to ``rigs`` (all by default) and collect the answers.

        Raises:
            KeyError: a rig name the group does not have.
        """
        names = list(self.rigs) if rigs is None else [self.rigs[n].name for n in rigs]
        if event in REVERSED:
            names.reverse()
        result = GroupResult(event)
        if concurrent:
            await asyncio.gather(*(self._one(n, event, args, timeout, result) for n in names))
            result.responses = {n: result.responses[n] for n in names if n in result.responses}
        else:
            for n in names:
                await self._one(n, event, args, timeout, result)
        return result

    async def _one(self, name: str, event: Event, args: list[Any], timeout: float | None,
                   result: GroupResult) -> None:
        rig = self.rigs[name]
        started = time.perf_counter()
        detail: LabdeckError | None = None
        answer: Any = None
        rtt_ms: float | None = None
        outcome: Outcome
        try:
            answer = await rig.request(event, args, timeout)
        except (Timeout, RigFailed) as exc:
            outcome, detail = ("timeout" if isinstance(exc, Timeout) else "error"), exc
        except OSError as exc:
            outcome, detail = "timeout", Timeout(f"rig {name!r}: cannot reach {rig.address}: {exc.strerror or exc}")
        else:
            outcome = "ok"
            result.responses[name] = answer
            rtt_ms = round((time.perf_counter() - started) * 1000, 3)
        if detail is not None:
            result.failures[name] = detail
        self.record(RigOutcome(name, event, outcome, rtt_ms, answer, detail.message if detail else None))

    def record(self, done: RigOutcome, via: str | None = None) -> None:
        """Apply how one request to rig ``done.rig`` ended: its state, last message and round
        trip, published on ``rigs/<name>``, then told to :attr:`report`.

        Args:
            via: who sent the request, when not this group (``"run 12"``: a script's).

        Raises:
            KeyError: the group has no such rig.
        """
        view = self.views[done.rig]
        view.state = rig_state_after(view.state, done.event, done.outcome)
        if done.outcome == "ok":
            view.rtt_ms = done.rtt_ms
        view.last = {"event": done.event.value, "outcome": done.outcome, "t": time.time(),
                     **({"data": done.data} if done.error is None else {"error": done.error}),
                     **({"via": via} if via else {})}
        self._publish(view)
        if self.report is not None:
            self.report(done)

    def _publish(self, view: RigView) -> None:
        if self.publish is not None:
            try:
                self.publish(f"rigs/{view.name}", view.as_dict())
            except LabdeckError:  # an answer JSON cannot carry: publish the state without it
                self.publish(f"rigs/{view.name}", {**view.as_dict(), "last": None})

    # -- iblutil's Services shape ------------------------------------------------------

    async def init(self, data: Any = None, concurrent: bool = True) -> dict[str, Any]:
        return (await self.send(Event.INIT, [data], concurrent=concurrent)).raise_for_failures()

    async def start(self, exp_ref: str | None = None, data: Any = None, concurrent: bool = True) -> dict[str, Any]:
        return (await self.send(Event.START, [exp_ref, data], concurrent=concurrent)).raise_for_failures()

    async def stop(self, data: Any = None, immediately: bool = False, concurrent: bool = True) -> dict[str, Any]:
        event = Event.INTERRUPT if immediately else Event.STOP
        return (await self.send(event, [data], concurrent=concurrent)).raise_for_failures()

    async def cleanup(self, data: Any = None, concurrent: bool = True) -> dict[str, Any]:
        return (await self.send(Event.CLEANUP, [data], concurrent=concurrent)).raise_for_failures()

    async def status(self, status: Any = 0) -> dict[str, Any]:
        return (await self.send(Event.STATUS, [status])).raise_for_failures()

    async def info(self, status: Any = 0, data: Any = None) -> dict[str, Any]:
        return (await self.send(Event.INFO, [status, data])).raise_for_failures()

    def assign_callback(self, event: Event | str | int, callback: Callable[[Any, Event], None]) -> None:
        """Assign ``callback`` on every rig (iblutil's ``Services.assign_callback``)."""
        for rig in self.rigs.values():
            rig.assign_callback(event, callback)

    async def await_all(self, event: Event | str | int, timeout: float | None = None) -> dict[str, Any]:
        """Wait until every rig has sent a message of ``event``; ``{rig: data}``.

        Raises:
            Timeout: naming the rigs that did not, after ``timeout`` seconds.
        """
        tasks = {name: asyncio.ensure_future(rig.on_event(event)) for name, rig in self.rigs.items()}
        _, pending = await asyncio.wait(tasks.values(), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            late = sorted(n for n, t in tasks.items() if t in pending)
            raise Timeout(f"no {event} from {', '.join(late)} within {timeout} s")
        return {name: task.result() for name, task in tasks.items()}

    async def close(self) -> None:
        for rig in self.rigs.values():
            await rig.close()

    async def __aenter__(self) -> RigGroup:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
