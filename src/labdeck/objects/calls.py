"""Running a browser's ``call``: argument checks, where the method runs, locks, timeouts.

* Arguments are bound to the method's signature first (``inspect.signature``); a wrong
  count or an unknown keyword is ``InvalidArguments`` and the method is not called. Where
  a parameter is annotated with a type msgspec knows, the value is checked and converted
  by the rule in :mod:`labdeck.objects.convert`; a mismatch is ``InvalidArguments``.
* ``async def`` methods are awaited on the event loop. Plain methods run on worker
  threads of their own (:class:`Workers`, so a slow one never blocks the event loop, nor
  the server's other uses of threads), unless marked ``@inline``: those run on the event
  loop, saving the two thread hand-overs, and must return at once.
* An ``@exclusive`` method runs one call at a time across all clients; the others wait
  in arrival order up to ``max_wait`` seconds and then get ``Busy``. With a shared broker
  (:meth:`Caller.share`) the lock spans every server process of the deployment: after
  the process's own lock, a call takes the lease ``exclusive/<lock>``, trying every
  :data:`SHARED_POLL` seconds until ``max_wait`` is spent (between processes, first come
  is not guaranteed first served). The lease is renewed while the method runs and
  released when it returns; a process that dies holding it, SIGKILL included, frees it
  within ``[broker] lease_ttl``.
* A call running past its timeout gets ``Timeout``. An ``async`` method is cancelled; a
  thread cannot be stopped, so a plain method runs on to its end, still holding its
  exclusive lock, and its late result is logged and dropped.
* An exception inside the method is logged on the server and sent as its class name and
  message (:class:`CallFailed`); a :class:`LabdeckError` it raises is sent as itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import math
import os
import queue
import socket
import threading
import typing
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from labdeck.broker.locks import Lease, Leases
from labdeck.exceptions import BrokerUnavailable, Busy, CallFailed, InvalidArguments, LabdeckError, Timeout
from labdeck.hub.rpc import Later
from labdeck.objects.convert import from_wire
from labdeck.objects.markers import CallOptions
from labdeck.objects.policy import is_private

__all__ = ["SHARED_POLL", "Caller", "Deadlines", "Signature", "Workers", "bind", "signature_of", "usable_annotation"]

log = logging.getLogger(__name__)


def usable_annotation(annotation: Any) -> Any:
    """``annotation`` if msgspec can check values against it, else ``Any``."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return Any
    try:
        msgspec.json.Decoder(annotation)
    except (TypeError, ValueError):
        return Any
    return annotation


@dataclasses.dataclass(frozen=True)
class Signature:
    """What a call needs to know about a callable, computed once per function."""

    sig: inspect.Signature
    types: dict[str, Any]
    is_async: bool
    simple: tuple[tuple[str, bool], ...] | None = None
    """``(name, required)`` of each parameter when none is positional-only or variadic
    (the common case, bound without ``inspect``); positional ones come first."""
    positional: int = 0
    shown: str = ""
    """The signature as error messages show it: private parameters left out, and each
    default as ``…`` (a default's repr could show a secret or the environment)."""
    index: dict[str, int] = dataclasses.field(default_factory=dict)
    """The place of each of ``simple``'s parameters."""
    required: int = 0
    """How many positional arguments bind every parameter without a default (one past
    the last of them in ``simple``)."""


class _Elided:
    def __repr__(self) -> str:
        return "\N{HORIZONTAL ELLIPSIS}"


_ELIDED = _Elided()


def _shown(sig: inspect.Signature) -> str:
    params = [
        p.replace(default=_ELIDED) if p.default is not p.empty else p
        for p in sig.parameters.values()
        if not is_private(p.name)
    ]
    return str(sig.replace(parameters=params))


_signatures: dict[Any, Signature] = {}


def _collected(kind: inspect._ParameterKind, annotation: Any) -> Any:
    """The type of what ``*args: T`` or ``**kwargs: T`` collects, for checking it whole."""
    if annotation is Any:
        return Any
    if kind is inspect.Parameter.VAR_POSITIONAL:
        return tuple[annotation, ...]
    if kind is inspect.Parameter.VAR_KEYWORD:
        return dict[str, annotation]
    return annotation


def signature_of(fn: Callable[..., Any]) -> Signature:
    """The (cached) :class:`Signature` of a function or bound method."""
    func = getattr(fn, "__func__", fn)
    key = (func, hasattr(fn, "__self__"))
    cached = _signatures.get(key)
    if cached is None:
        try:
            sig = inspect.signature(fn, eval_str=True)  # shows `int`, not `'int'`, under PEP 563
        except Exception:  # an annotation that does not evaluate: show it as written
            sig = inspect.signature(fn)
        try:
            hints = typing.get_type_hints(func)
        except Exception:  # unresolvable annotations: check counts only
            hints = {}
        types_ = {
            name: _collected(p.kind, usable_annotation(hints.get(name, Any))) for name, p in sig.parameters.items()
        }
        kinds = {p.kind for p in sig.parameters.values()}
        simple = None
        if kinds <= {inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY}:
            simple = tuple((p.name, p.default is p.empty) for p in sig.parameters.values())
        positional = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in sig.parameters.values())
        types_ = {k: v for k, v in types_.items() if v is not Any}
        index = {name: i for i, (name, _) in enumerate(simple or ())}
        required = max((i + 1 for i, (_, needed) in enumerate(simple or ()) if needed), default=0)
        cached = Signature(sig, types_, inspect.iscoroutinefunction(func), simple, positional, _shown(sig),
                           index, required)
        _signatures[key] = cached
    return cached


Arguments = tuple[list[Any], dict[str, Any]]


def bind(fn: Callable[..., Any], label: str, args: list[Any], kwargs: dict[str, Any]) -> Arguments:
    """Bind and type-check arguments; returns what to call ``fn`` with.

    Raises:
        InvalidArguments: naming the method and what is wrong.
    """
    info = signature_of(fn)
    try:
        if info.simple is not None:
            return _bind_simple(info, label, list(args), dict(kwargs))
        bound = info.sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidArguments(f"{label}{info.shown}: {exc}") from None
    for name, annotation in info.types.items():
        if name in bound.arguments:
            bound.arguments[name] = _convert(info, label, name, bound.arguments[name], annotation)
    return list(bound.args), bound.kwargs


def _bind_simple(info: Signature, label: str, args: list[Any], kwargs: dict[str, Any]) -> Arguments:
    """What ``inspect.Signature.bind`` does, for signatures without ``/``, ``*args``, ``**kw``."""
    assert info.simple is not None
    if len(args) > info.positional:
        raise TypeError("too many positional arguments")
    index = info.index
    for name in kwargs:
        i = index.get(name)
        if i is None:
            raise TypeError(f"got an unexpected keyword argument {name!r}")
        if i < len(args):
            raise TypeError(f"multiple values for argument {name!r}")
    if len(args) < info.required or kwargs:  # else every parameter without a default has its value
        for i, (name, required) in enumerate(info.simple):
            if required and i >= len(args) and name not in kwargs:
                raise TypeError(f"missing a required argument: {name!r}")
    for name, annotation in info.types.items():
        i = index[name]
        if i < len(args):
            args[i] = _convert(info, label, name, args[i], annotation)
        elif name in kwargs:
            kwargs[name] = _convert(info, label, name, kwargs[name], annotation)
    return args, kwargs


def _convert(info: Signature, label: str, name: str, value: Any, annotation: Any) -> Any:
    try:
        return from_wire(value, annotation)
    except TypeError as exc:
        raise InvalidArguments(f"{label}{info.shown}: argument {name!r}: {exc}") from None


SHARED_POLL = 0.05
"""Seconds between two tries for an exclusive lock another server process holds."""


class Caller:
    """Runs calls: owns the worker threads and the exclusive locks.

    Args:
        workers: threads for plain methods; calls beyond that many wait for a free one.
    """

    def __init__(self, workers: int = 8) -> None:
        self.workers = workers
        self._pool: Workers | None = None
        self._deadlines: Deadlines | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._leases: Leases | None = None
        self._ttl = 15.0
        self._releasing: set[asyncio.Task[None]] = set()

    def share(self, leases: Leases, ttl: float) -> None:
        """Make exclusive locks hold across every server process sharing ``leases``, each
        as a lease of ``ttl`` seconds (see the module doc)."""
        self._leases, self._ttl = leases, ttl

    def close(self) -> None:
        """Drop calls still queued for a thread; those already running finish on their own.

        A later call starts new threads, so a server can be stopped and started again.
        """
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._deadlines is not None:
            self._deadlines.close()
            self._deadlines = None
        self._locks.clear()

    def call_inline(self, fn: Callable[..., Any], label: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Check the arguments and run ``fn`` right here, on the event loop, for an
        ``@inline`` method that is neither ``async`` nor exclusive.

        Raises:
            InvalidArguments, CallFailed, or a LabdeckError ``fn`` raised.
        """
        bound = bind(fn, label, args, kwargs)
        try:
            return fn(*bound[0], **bound[1])
        except LabdeckError:
            raise
        except BaseException as exc:  # SystemExit too: a method must never end the server
            raise _failed(label, exc) from None

    def submit(
        self,
        fn: Callable[..., Any],
        label: str,
        args: list[Any],
        kwargs: dict[str, Any],
        finish: Callable[[Any], Any],
        *,
        timeout: float | None,
    ) -> Later:
        """Check the arguments, then run plain, non-exclusive ``fn`` on a worker thread.

        The :class:`Later` settles with ``finish(result)`` once the method returned, or
        the error: ``CallFailed``, a ``LabdeckError`` it (or ``finish``) raised, or
        ``Timeout`` after ``timeout`` seconds. No task, no coroutine, no future and no
        timer of its own: one queue put, and one ``call_soon_threadsafe`` back (see
        :class:`Workers` and :class:`Deadlines`).

        Raises:
            InvalidArguments: before anything runs.
        """
        bound = bind(fn, label, args, kwargs)
        pending = _Pending(asyncio.get_running_loop(), label, finish, None)
        if timeout is not None:
            self._deadlines_on(pending.loop).add(pending, timeout)
        self._workers().put(fn, bound, pending)
        return pending

    def _deadlines_on(self, loop: asyncio.AbstractEventLoop) -> Deadlines:
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = Deadlines(loop)
        return deadlines

    def _workers(self) -> Workers:
        if self._pool is None:
            self._pool = Workers(self.workers)
        return self._pool

    async def call(
        self,
        fn: Callable[..., Any],
        label: str,
        args: list[Any],
        kwargs: dict[str, Any],
        options: CallOptions,
        *,
        timeout: float | None,
        max_wait: float,
        lock_key: str,
    ) -> Any:
        """Check the arguments, then run ``fn`` as the module doc describes.

        Raises:
            InvalidArguments, Busy, Timeout, CallFailed, or a LabdeckError ``fn`` raised.
        """
        bound = bind(fn, label, args, kwargs)
        if options.timeout is not None:
            timeout = options.timeout
        if not options.exclusive:
            return await self._run(fn, bound, label, options, timeout, None)
        key = options.exclusive if isinstance(options.exclusive, str) else lock_key
        lock = self._locks.setdefault(key, asyncio.Lock())
        wait = options.max_wait if options.max_wait is not None else max_wait
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        try:
            async with asyncio.timeout(wait):
                await lock.acquire()
        except TimeoutError:
            raise Busy(f"{label} is exclusive and still busy with another call after {wait:g} s") from None
        if self._leases is None:
            return await self._run(fn, bound, label, options, timeout, lock.release)
        try:
            lease = await self._shared_lock(self._leases, key, label, deadline, wait)
        except BaseException:
            lock.release()
            raise
        return await self._run(fn, bound, label, options, timeout, lambda: self._let_go_soon(lock, lease))

    async def _shared_lock(self, leases: Leases, key: str, label: str, deadline: float, wait: float) -> Lease:
        """The lease ``exclusive/<key>``, tried until ``deadline`` (loop time).

        Raises:
            Busy: another process held it all along; the message names it.
            BrokerUnavailable: the shared broker does not answer.
        """
        name, loop = f"exclusive/{key}", asyncio.get_running_loop()
        holder = f"{label} on {socket.gethostname()} (pid {os.getpid()})"
        while True:
            try:
                lease = await leases.acquire(name, holder, self._ttl)
                if lease is not None:
                    return lease
                left = deadline - loop.time()
                if left <= 0:
                    who = await leases.holder(name) or "another server process"
                    raise Busy(f"{label} is exclusive and still busy with another call after {wait:g} s: {who}")
            except LabdeckError:
                raise
            except Exception as exc:
                raise BrokerUnavailable(f"{label} is exclusive across server processes, and the shared broker "
                                        f"holding its lock does not answer: {exc}") from None
            await asyncio.sleep(min(SHARED_POLL, left))

    def _let_go_soon(self, lock: asyncio.Lock, lease: Lease) -> None:
        """Release both locks of an exclusive call; on the loop, from sync code too."""
        task = asyncio.get_running_loop().create_task(_let_go(lock, lease))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _run(
        self,
        fn: Callable[..., Any],
        bound: Arguments,
        label: str,
        options: CallOptions,
        timeout: float | None,
        release: Callable[[], None] | None,
    ) -> Any:
        try:
            async with asyncio.timeout(timeout):
                if signature_of(fn).is_async:
                    result = await fn(*bound[0], **bound[1])
                elif options.inline:
                    result = fn(*bound[0], **bound[1])
                else:
                    pending = _Pending(asyncio.get_running_loop(), label, _same, release)
                    release = None  # the thread's completion releases the lock
                    self._workers().put(fn, bound, pending)
                    result = await pending
                if inspect.isawaitable(result):
                    result = await result
        except TimeoutError:
            raise Timeout(f"{label} did not finish within {timeout:g} s") from None
        except (LabdeckError, asyncio.CancelledError):
            raise
        except BaseException as exc:  # SystemExit too: a method must never end the server
            raise _failed(label, exc) from None
        finally:
            if release is not None:
                release()
        return result


def _same(value: Any) -> Any:
    return value


async def _let_go(lock: asyncio.Lock, lease: Lease) -> None:
    """The lease first: the next call of this process, waiting for ``lock``, then finds it free."""
    try:
        await lease.release()
    finally:
        lock.release()


class _Pending(Later):
    """One call on a worker thread, as the event loop sees it: what to do with the result
    once the thread hands it back, and the deadline it must meet."""

    __slots__ = ("deadline", "deadlines", "finish", "label", "loop", "release", "timeout")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        label: str,
        finish: Callable[[Any], Any],
        release: Callable[[], None] | None,
    ) -> None:
        super().__init__()
        self.loop = loop
        self.label = label
        self.finish = finish
        self.release = release
        self.timeout: float | None = None
        self.deadline = math.inf
        self.deadlines: Deadlines | None = None

    def expire(self) -> None:
        """The deadline passed first: the reply is ``Timeout``; the thread runs on."""
        self.settle(None, Timeout(f"{self.label} did not finish within {self.timeout:g} s"))

    def cancel(self) -> None:
        """Dropped before any thread took it (the server stopping): no reply."""
        if self.release is not None:
            self.release()
        self.settle(None, asyncio.CancelledError())

    def done(self, result: Any, exc: BaseException | None) -> None:
        """On the loop, once the thread is done: release, then hand the outcome over."""
        if self.deadlines is not None:
            self.deadlines.discard(self)
        if self.release is not None:
            self.release()
        if self.settled:  # timed out, or the server stopped meanwhile
            _late(self.label, exc)
            return
        if exc is not None:
            self.settle(None, exc if isinstance(exc, LabdeckError) else _failed(self.label, exc))
            return
        try:
            value = self.finish(result)
        except LabdeckError as err:
            self.settle(None, err)
            return
        self.settle(value)


class Deadlines:
    """The timeouts of the calls running on threads, with one loop timer for all of them.

    A timer per call would be a ``call_later`` and a ``cancel`` for every call, nearly
    all of which finish long before their timeout. Here the timer is armed at the
    earliest deadline of the calls in flight; a call that finishes only leaves the set,
    and the timer, when it fires, expires what is due and is armed again for the
    earliest deadline left. A call expires within the loop's clock resolution of its
    deadline, as with ``call_later``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._pending: set[_Pending] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._at = math.inf

    def add(self, pending: _Pending, timeout: float) -> None:
        pending.deadlines = self
        pending.timeout = timeout
        pending.deadline = deadline = self.loop.time() + timeout
        self._pending.add(pending)
        if deadline < self._at:
            self._arm(deadline)

    def discard(self, pending: _Pending) -> None:
        self._pending.discard(pending)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(at, self._fire)
        self._at = at

    def _fire(self) -> None:
        self._timer, self._at = None, math.inf
        now = self.loop.time()
        due = [p for p in self._pending if p.deadline <= now]
        for pending in due:
            self._pending.discard(pending)
            pending.expire()
        if self._pending:
            self._arm(min(p.deadline for p in self._pending))


class Workers:
    """The threads plain methods run on: ``count`` threads, started with the first call.

    Cheaper than :class:`concurrent.futures.ThreadPoolExecutor` behind
    ``asyncio.wrap_future``: no ``concurrent.futures.Future`` with its lock and
    condition, no chained future, one ``call_soon_threadsafe`` per call to hand the
    result back, and nothing else crossing threads. A call goes to the thread that
    became idle last (its caches are warm; one after another, calls keep to one
    thread), or waits in order until a thread is free.
    """

    def __init__(self, count: int) -> None:
        self._lock = threading.Lock()  # guards _idle and _waiting together
        self._idle: list[queue.SimpleQueue[_Job | None]] = []  # inboxes of idle threads, last idle on top
        self._waiting: deque[_Job] = deque()  # calls no thread was free for, oldest first
        self._inboxes = [queue.SimpleQueue[_Job | None]() for _ in range(max(1, count))]
        for i, inbox in enumerate(self._inboxes):
            threading.Thread(target=self._work, args=(inbox,), name=f"labdeck-call-{i}", daemon=True).start()

    def put(self, fn: Callable[..., Any], bound: Arguments, pending: _Pending) -> None:
        """Run ``fn(*bound)`` on a thread; ``pending.done`` gets the outcome on its loop."""
        job = (fn, bound, pending)
        with self._lock:
            if not self._idle:
                self._waiting.append(job)
                return
            inbox = self._idle.pop()
        inbox.put(job)

    def close(self) -> None:
        """Cancel what no thread has started (on the loop's thread); threads end when idle."""
        with self._lock:
            waiting, self._waiting = list(self._waiting), deque()
        for _, _, pending in waiting:
            pending.cancel()
        for inbox in self._inboxes:
            inbox.put(None)

    def _work(self, inbox: queue.SimpleQueue[_Job | None]) -> None:
        while True:
            with self._lock:
                job = self._waiting.popleft() if self._waiting else None
                if job is None:
                    self._idle.append(inbox)
            if job is None:
                job = inbox.get()
                if job is None:
                    return
            fn, (args, kwargs), pending = job
            del job
            try:
                outcome: tuple[Any, BaseException | None] = (fn(*args, **kwargs), None)
            except BaseException as exc:  # SystemExit too: a method must never end the server
                outcome = (None, exc)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                pending.loop.call_soon_threadsafe(pending.done, *outcome)
            del fn, args, kwargs, pending, outcome


_Job = tuple[Callable[..., Any], "Arguments", _Pending]


def _failed(label: str, exc: BaseException) -> CallFailed:
    """Log what an exposed method raised; the error that carries it to the client."""
    # One line: a method refusing its arguments is the lab's business, not a server fault.
    # The traceback is there for whoever runs the server with debug logging.
    log.warning("call of %s raised %s: %s", label, type(exc).__name__, exc)
    log.debug("call of %s: traceback", label, exc_info=exc)
    return CallFailed(exc)


def _late(label: str, exc: BaseException | None) -> None:
    """Log the outcome of a call whose caller stopped waiting."""
    if exc is not None:
        log.warning("call of %s raised %s after its timeout: %s", label, type(exc).__name__, exc)
    else:
        log.info("call of %s finished after its timeout; its result was dropped", label)
