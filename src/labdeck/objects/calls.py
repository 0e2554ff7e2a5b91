"""Running a browser's ``call``: argument checks, where the method runs, locks, timeouts.

* Arguments are bound to the method's signature first (``inspect.signature``); a wrong
  count or an unknown keyword is ``InvalidArguments`` and the method is not called. Where
  a parameter is annotated with a type msgspec knows, the value is checked and converted
  by the rule in :mod:`labdeck.objects.convert`; a mismatch is ``InvalidArguments``.
* ``async def`` methods are awaited on the event loop. Plain methods run in a thread pool
  of their own (so a slow one never blocks the event loop, nor the server's other uses of
  threads), unless marked ``@inline``: those run on the event loop, saving the two thread
  hand-overs, and must return at once.
* An ``@exclusive`` method runs one call at a time across all clients; the others wait
  in arrival order up to ``max_wait`` seconds and then get ``Busy``.
* A call running past its timeout gets ``Timeout``. An ``async`` method is cancelled; a
  thread cannot be stopped, so a plain method runs on to its end, still holding its
  exclusive lock, and its late result is logged and dropped.
* An exception inside the method is logged on the server and sent as its class name and
  message (:class:`CallFailed`); a :class:`LabdeckError` it raises is sent as itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import typing
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import msgspec

from labdeck.exceptions import Busy, CallFailed, InvalidArguments, LabdeckError, Timeout
from labdeck.objects.convert import from_wire
from labdeck.objects.markers import CallOptions

__all__ = ["Caller", "Signature", "bind", "signature_of", "usable_annotation"]

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


@dataclass(frozen=True)
class Signature:
    """What a call needs to know about a callable, computed once per function."""

    sig: inspect.Signature
    types: dict[str, Any]
    is_async: bool
    simple: tuple[tuple[str, bool], ...] | None = None
    """``(name, required)`` of each parameter when none is positional-only or variadic
    (the common case, bound without ``inspect``); positional ones come first."""
    positional: int = 0


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
        cached = Signature(sig, types_, inspect.iscoroutinefunction(func), simple, positional)
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
        raise InvalidArguments(f"{label}{info.sig}: {exc}") from None
    for name, annotation in info.types.items():
        if name in bound.arguments:
            bound.arguments[name] = _convert(info, label, name, bound.arguments[name], annotation)
    return list(bound.args), bound.kwargs


def _bind_simple(info: Signature, label: str, args: list[Any], kwargs: dict[str, Any]) -> Arguments:
    """What ``inspect.Signature.bind`` does, for signatures without ``/``, ``*args``, ``**kw``."""
    assert info.simple is not None
    if len(args) > info.positional:
        raise TypeError("too many positional arguments")
    index = {name: i for i, (name, _) in enumerate(info.simple)}
    for name in kwargs:
        i = index.get(name)
        if i is None:
            raise TypeError(f"got an unexpected keyword argument {name!r}")
        if i < len(args):
            raise TypeError(f"multiple values for argument {name!r}")
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
        raise InvalidArguments(f"{label}{info.sig}: argument {name!r}: {exc}") from None


class Caller:
    """Runs calls: owns the thread pool and the exclusive locks.

    Args:
        workers: threads for plain methods; calls beyond that many wait for a free one.
    """

    def __init__(self, workers: int = 8) -> None:
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    def close(self) -> None:
        """Drop calls still queued for a thread; those already running finish on their own.

        A later call starts a new pool, so a server can be stopped and started again.
        """
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
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
        try:
            await asyncio.wait_for(lock.acquire(), wait)
        except TimeoutError:
            raise Busy(f"{label} is exclusive and still busy with another call after {wait:g} s") from None
        return await self._run(fn, bound, label, options, timeout, lock)

    async def _run(
        self,
        fn: Callable[..., Any],
        bound: Arguments,
        label: str,
        options: CallOptions,
        timeout: float | None,
        lock: asyncio.Lock | None,
    ) -> Any:
        release = lock.release if lock is not None else None
        try:
            if signature_of(fn).is_async:
                result = await asyncio.wait_for(fn(*bound[0], **bound[1]), timeout)
            elif options.inline:
                result = fn(*bound[0], **bound[1])
            else:
                result = await self._in_thread(fn, bound, label, timeout, release)
                release = None  # the thread's completion releases the lock
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, timeout)
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

    async def _in_thread(
        self,
        fn: Callable[..., Any],
        bound: Arguments,
        label: str,
        timeout: float | None,
        release: Callable[[], None] | None,
    ) -> Any:
        loop = asyncio.get_running_loop()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="labdeck-call")
        cfut: Future[Any] = self._pool.submit(functools.partial(fn, *bound[0], **bound[1]))
        if release is not None:
            cfut.add_done_callback(functools.partial(_release_on, loop, release))
        fut = asyncio.wrap_future(cfut, loop=loop)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except (TimeoutError, asyncio.CancelledError):
            fut.add_done_callback(functools.partial(_late, label))
            raise


def _failed(label: str, exc: BaseException) -> CallFailed:
    """Log what an exposed method raised; the error that carries it to the client."""
    # One line: a method refusing its arguments is the lab's business, not a server fault.
    # The traceback is there for whoever runs the server with debug logging.
    log.warning("call of %s raised %s: %s", label, type(exc).__name__, exc)
    log.debug("call of %s: traceback", label, exc_info=exc)
    return CallFailed(exc)


def _release_on(loop: asyncio.AbstractEventLoop, release: Callable[[], None], _: object) -> None:
    """Release an exclusive lock from the worker thread, on the loop that owns it."""
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for the lock
        loop.call_soon_threadsafe(release)


def _late(label: str, fut: asyncio.Future[Any]) -> None:
    """Log the outcome of a call whose caller stopped waiting."""
    if fut.cancelled():
        return
    exc = fut.exception()
    if exc is not None:
        log.warning("call of %s raised %s after its timeout: %s", label, type(exc).__name__, exc)
    else:
        log.info("call of %s finished after its timeout; its result was dropped", label)
