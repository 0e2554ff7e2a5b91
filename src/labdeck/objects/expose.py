"""The object space: the Python objects a server exposes, answering get/set/call/del/dir.

:class:`Objects` is what :class:`labdeck.Deck` installs as ``hub.objects``. Every request
is checked, in order: the client's role for the op (see :mod:`labdeck.objects.policy`),
each path segment while it is walked (:mod:`labdeck.objects.resolve`), then the
op-specific rules below. Values go out by the rule of :mod:`labdeck.objects.convert`.

* ``get`` reads a value. A method is not a value (``BadRequest``); an object that has no
  JSON form is ``NotSerializable`` (``dir`` it instead).
* ``set`` assigns to an existing attribute or mapping key; it never creates one
  (``NotFound``), never replaces a method or an object (``AccessDenied``), and checks
  the value against the attribute's type annotation, or else against the kind of its
  current value when that is a number, string or boolean (``InvalidArguments``).
* ``del`` removes an attribute or mapping key.
* ``call`` runs a method (:mod:`labdeck.objects.calls`).
* ``dir`` describes a path (:mod:`labdeck.objects.describe`); the empty path lists the
  exposed objects.

``get``, ``set``, ``del`` and ``dir`` run on the event loop: properties an exposed
object offers should return at once.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import logging
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from labdeck.broker.locks import Leases
from labdeck.exceptions import (
    AccessDenied,
    BadRequest,
    CallFailed,
    ConfigError,
    InvalidArguments,
    LabdeckError,
    NotFound,
    NotSerializable,
    Timeout,
)
from labdeck.hub.rpc import Ready
from labdeck.objects.calls import Caller, signature_of, usable_annotation
from labdeck.objects.convert import PLAIN_TYPES, check_incoming, from_wire, public_value, type_name
from labdeck.objects.describe import describe, kind_of
from labdeck.objects.markers import CallOptions, call_options
from labdeck.objects.observe import IdentityMap, observed, observed_names, watch
from labdeck.objects.plans import MAX_PLANS, CallPlan, walk
from labdeck.objects.policy import ROLES, Policy, check_name, dotted, is_private, role_allows
from labdeck.objects.resolve import Member, forbidden, is_walkable, is_walkable_object, mapping_refusal, resolve
from labdeck.protocol import wire
from labdeck.types import Client

__all__ = ["Exposed", "Objects", "import_reference"]

log = logging.getLogger(__name__)

Publish = Callable[[str, Any], None]


@dataclass
class Exposed:
    """One exposed object and its policy."""

    name: str
    obj: Any
    policy: Policy


class Objects:
    """The exposed objects of one server.

    Args:
        publish: publishes ``(channel, data)``; must be safe from any thread (observed
            attributes change in worker threads too).
        workers: threads for plain (non-async, non-inline) methods.
    """

    def __init__(self, publish: Publish, *, workers: int = 8) -> None:
        self.exposed: dict[str, Exposed] = {}
        self._publish = publish
        self._caller = Caller(workers)
        self._watching: IdentityMap[set[str]] = IdentityMap()
        self._hints: dict[type, dict[str, Any]] = {}
        self._plans: dict[tuple[str, ...], CallPlan] = {}  # see labdeck.objects.plans

    def share_locks(self, leases: Leases, ttl: float) -> None:
        """Hold ``@exclusive`` locks across every server process sharing ``leases``."""
        self._caller.share(leases, ttl)

    # -- exposing -------------------------------------------------------------------

    def expose(self, name: str, obj: Any, policy: Policy | None = None) -> None:
        """Make ``obj`` reachable as ``name`` under ``policy`` (default: :class:`Policy()`).

        Observed attributes of ``obj``, and of the objects its attributes hold at this
        moment, start publishing their changes on ``obj/<name>/...``; their current
        values are published at once.

        Raises:
            ValueError: ``name`` is not a usable name or is already exposed, or ``obj``
                is a module, a class or a builtin.
        """
        try:
            check_name(name, [name])
        except AccessDenied as exc:
            raise ValueError(f"cannot expose as {name!r}: {exc.message}") from None
        if name in self.exposed:
            raise ValueError(f"an object is already exposed as {name!r}")
        policy = policy or Policy()
        if (what := forbidden(obj) or mapping_refusal(obj, policy.allowed_mappings)) is not None:
            raise ValueError(f"cannot expose {what} as {name!r}: expose an instance or a dict")
        if not is_walkable(obj, policy.allowed_mappings):
            raise ValueError(f"cannot expose {type_name(obj)} as {name!r}: expose an instance or a dict")
        self.exposed[name] = Exposed(name, obj, policy)
        self._watch_tree(obj, [name], policy, set())

    def load(self, references: Mapping[str, str], where: str = "config") -> None:
        """Expose each ``name = "module:attribute"`` of the config's ``[objects]``.

        Raises:
            ConfigError: one line naming the key and what is wrong with its reference.
        """
        for name, ref in references.items():
            obj = import_reference(ref, f"{where}: `objects.{name}`")
            if name in self.exposed and self.exposed[name].obj is obj:
                continue  # a server started again
            try:
                self.expose(name, obj)
            except ValueError as exc:
                raise ConfigError(f"{where}: `objects.{name}`: {exc}") from None

    def close(self) -> None:
        """Stop running calls in threads (those already running finish)."""
        self._caller.close()

    # -- observed attributes ----------------------------------------------------------

    def _watch_tree(self, obj: Any, path: list[str], policy: Policy, seen: set[int]) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        self._observed_prefix(obj, path, policy)
        if len(path) >= policy.max_depth:
            return
        children = obj.items() if isinstance(obj, Mapping) else getattr(obj, "__dict__", {}).items()
        for key, child in list(children):
            if not isinstance(key, str) or is_private(key) or not policy.visible((*path[1:], key)):
                continue
            if is_walkable(child, policy.allowed_mappings) and not isinstance(child, dict) and not forbidden(child):
                self._watch_tree(child, [*path, key], policy, seen)

    def _observed_prefix(self, obj: Any, path: list[str], policy: Policy) -> str | None:
        """The channel prefix of ``obj``'s observed attributes at ``path``, watching them
        (once per object and path) and publishing their current values."""
        names = observed_names(obj)
        if not names:
            return None
        prefix = "obj/" + "/".join(path)
        try:
            seen = self._watching.setdefault(obj, set())
        except TypeError:
            return None  # cannot be weakly referenced, so cannot be watched
        if prefix in seen:
            return prefix
        seen.add(prefix)
        rel = tuple(path[1:])
        levels = policy.max_depth - len(path) - 1
        readable: dict[str, bool] = {}  # per attribute: the policy's answer never changes

        def publish(attr: str, value: Any) -> None:
            ok = readable.get(attr)
            if ok is None:
                sub = (*rel, attr)
                ok = readable[attr] = (
                    not is_private(attr) and policy.exposed(sub) and not policy.withholds_below(sub)
                )
            if ok:
                self._publish(f"{prefix}/{attr}", public_value(value, policy.allowed_mappings, levels))

        watch(obj, publish)
        for attr in names:
            try:
                value = obj[attr] if isinstance(obj, Mapping) else getattr(obj, attr)
            except (AttributeError, KeyError):
                continue
            try:
                publish(attr, value)
            except LabdeckError as exc:
                log.warning("observed %s/%s: %s", prefix, attr, exc.message)
        return prefix

    # -- ops ------------------------------------------------------------------------

    def _target(
        self, op: str, path: list[str], client: Client, *, must_exist: bool = True, trail: list[type] | None = None
    ) -> tuple[Member, Policy]:
        if not path:
            raise BadRequest(f"{op} needs a path naming an exposed object")
        entry = self.exposed.get(path[0])
        if entry is None:
            raise NotFound(f"no object {path[0]!r} is exposed")
        policy = entry.policy
        if op == "call" and not role_allows(client.role, "call", policy.roles):
            policy.check_role(client.role, "get", path)  # who may not even read is refused here
            member = resolve(entry.obj, policy, path, must_exist=must_exist, trail=trail)
            if not call_options(member.value).reads:
                policy.check_role(client.role, op, path)
        else:
            policy.check_role(client.role, op, path)
            member = resolve(entry.obj, policy, path, must_exist=must_exist, trail=trail)
        if op != "dir" and not policy.exposed(member.rel):
            raise AccessDenied(f"{dotted(path)!r} is not exposed")
        if op == "get" and policy.withholds_below(member.rel):
            raise AccessDenied(f"{dotted(path)!r} cannot be read whole: part of it is not exposed")
        return member, policy

    def begin(self, req: wire.Request, client: Client) -> Awaitable[Any] | Ready:
        """Start an object request; what the hub calls for every get/set/call/del/dir.

        Everything that needs no waiting happens now: ``get``, ``set``, ``del``, ``dir``
        and calls of ``@inline`` methods return :class:`Ready`, so the hub answers at
        once, without a future or a task. A plain method returns the future of its
        worker thread; ``async`` and exclusive ones a coroutine to run as a task.

        Raises:
            LabdeckError: the request is refused before anything runs.
        """
        if isinstance(req, wire.Call):
            return self._begin_call(req.path, req.args, req.kwargs, client)
        if isinstance(req, wire.Get):
            result = self._get(req.path, client)
        elif isinstance(req, wire.Set):
            result = self._set(req.path, req.value, client)
        elif isinstance(req, wire.Del):
            result = self._delete(req.path, client)
        elif isinstance(req, wire.Dir):
            result = self._dir(req.path, client)
        else:
            raise BadRequest(f"op {type(req).__name__.lower()!r} is not an object op")
        return Ready(result)

    async def get(self, path: list[str], client: Client) -> Any:
        return self._get(path, client)

    async def set(self, path: list[str], value: Any, client: Client) -> Any:
        return self._set(path, value, client)

    async def delete(self, path: list[str], client: Client) -> Any:
        return self._delete(path, client)

    async def call(self, path: list[str], args: list[Any], kwargs: dict[str, Any], client: Client) -> Any:
        work = self._begin_call(path, args, kwargs, client)
        return work.value if isinstance(work, Ready) else await work

    async def dir(self, path: list[str], client: Client) -> Any:
        return self._dir(path, client)

    def _get(self, path: list[str], client: Client) -> Any:
        member, policy = self._target("get", path, client)
        if kind_of(member.value) == "method":
            raise BadRequest(f"{dotted(path)!r} is a method: call it")
        try:
            return public_value(member.value, policy.allowed_mappings, policy.max_depth - len(path))
        except NotSerializable as exc:
            raise NotSerializable(f"{dotted(path)!r}: {exc.message}; list its members with dir") from None
        except AccessDenied as exc:
            raise AccessDenied(f"{dotted(path)!r}: {exc.message}") from None

    def _set(self, path: list[str], value: Any, client: Client) -> Any:
        member, policy = self._target("set", path, client)
        self._check_replaceable(member, policy, "set")
        value = self._check_type(member, value)
        try:
            if member.mapping:
                member.parent[member.key] = value
            else:
                setattr(member.parent, member.key, value)
        except AttributeError as exc:  # a property without setter, a frozen dataclass
            raise AccessDenied(f"{dotted(path)!r} is read-only ({exc})") from None
        except LabdeckError:
            raise
        except Exception as exc:  # a setter that refused the value
            log.info("set %s refused: %s: %s", dotted(path), type(exc).__name__, exc)
            raise CallFailed(exc) from None
        return None

    def _delete(self, path: list[str], client: Client) -> Any:
        member, policy = self._target("del", path, client)
        self._check_replaceable(member, policy, "delete")
        try:
            if member.mapping:
                del member.parent[member.key]
            else:
                delattr(member.parent, member.key)
        except (AttributeError, TypeError) as exc:
            raise AccessDenied(f"{dotted(path)!r} cannot be deleted ({exc})") from None
        return None

    def _begin_call(
        self, path: list[str], args: list[Any], kwargs: dict[str, Any], client: Client
    ) -> Awaitable[Any] | Ready:
        plan = self._plans.get(tuple(path))
        if plan is not None:
            entry = self.exposed.get(path[0])
            if entry is plan.entry and entry.policy is plan.policy and ROLES.get(client.role, -1) >= plan.need:
                fn = walk(plan, entry.obj, path)
                if fn is not None:
                    return self._start(plan, fn, args, kwargs)
        return self._begin_call_checked(path, args, kwargs, client)

    def _begin_call_checked(
        self, path: list[str], args: list[Any], kwargs: dict[str, Any], client: Client
    ) -> Awaitable[Any] | Ready:
        """A call with every check made (see :mod:`labdeck.objects.plans`); leaves a plan."""
        trail: list[type] = []
        member, policy = self._target("call", path, client, trail=trail)
        fn = member.value
        if kind_of(fn) != "method":
            raise BadRequest(f"{dotted(path)!r} is not a method")
        label = dotted(path)
        options = call_options(fn)
        is_async = signature_of(fn).is_async
        need = policy.need("call")
        plan = CallPlan(
            entry=self.exposed[path[0]], policy=policy, types=tuple(trail),
            keyed=tuple(not is_walkable_object(t) for t in trail), func=getattr(fn, "__func__", fn),
            need=min(need, policy.need("get")) if options.reads else need, label=label, options=options,
            inline=options.inline and not options.exclusive and not is_async,
            threaded=not options.inline and not options.exclusive and not is_async,
            timeout=options.timeout if options.timeout is not None else policy.timeout,
            finish=functools.partial(_result, label, policy=policy),
        )
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        self._plans[tuple(path)] = plan
        return self._start(plan, fn, args, kwargs)

    def _start(self, plan: CallPlan, fn: Any, args: list[Any], kwargs: dict[str, Any]) -> Awaitable[Any] | Ready:
        """Run a call whose path and role have been checked."""
        for key in kwargs:
            if is_private(key):
                raise InvalidArguments(f"{plan.label}: keyword {key!r} is not accepted")
        if plan.inline:
            result = self._caller.call_inline(fn, plan.label, args, kwargs)
            if type(result) not in PLAIN_TYPES and inspect.isawaitable(result):  # it handed back a coroutine
                return _awaited(plan.label, result, plan.timeout, plan.policy)
            return Ready(plan.finish(result))
        if plan.threaded:
            return self._caller.submit(fn, plan.label, args, kwargs, plan.finish, timeout=plan.timeout)
        return self._call(fn, plan.label, args, kwargs, plan.options, plan.policy)

    async def _call(
        self,
        fn: Callable[..., Any],
        label: str,
        args: list[Any],
        kwargs: dict[str, Any],
        options: CallOptions,
        policy: Policy,
    ) -> Any:
        result = await self._caller.call(
            fn, label, args, kwargs, options, timeout=policy.timeout, max_wait=policy.max_wait, lock_key=label
        )
        return _result(label, result, policy=policy)

    def _dir(self, path: list[str], client: Client) -> Any:
        if not path:
            return {
                "path": [],
                "kind": "space",
                "members": [
                    {"name": e.name, "kind": "object", "type": type_name(e.obj)}
                    for e in self.exposed.values()
                    if role_allows(client.role, "dir", e.policy.roles)
                ],
            }
        member, policy = self._target("dir", path, client)
        return describe(
            member, policy,
            can_set=role_allows(client.role, "set", policy.roles),
            observed_prefix=lambda obj, p: self._observed_prefix(obj, p, policy),
        )

    # -- set/del rules --------------------------------------------------------------

    def _check_replaceable(self, member: Member, policy: Policy, what: str) -> None:
        where = dotted(member.path)
        if member.parent is None:
            raise AccessDenied(f"{where!r} is an exposed object; {what} its attributes instead")
        if not policy.writable(member.rel):
            raise AccessDenied(f"{where!r} is read-only")
        kind = kind_of(member.value)
        if kind == "method" or (callable(member.static) and not isinstance(member.static, observed)):
            raise AccessDenied(f"{where!r} is a method; methods cannot be {'set' if what == 'set' else 'deleted'}")
        if kind == "object" and not member.mapping:
            raise AccessDenied(f"{where!r} is an object; {what} its attributes instead")

    def _check_type(self, member: Member, value: Any) -> Any:
        where = dotted(member.path)
        annotation = Any if member.mapping else self._annotation(type(member.parent), member.key)
        try:
            if annotation is not Any:
                return from_wire(value, annotation)
            check_incoming(value)
        except TypeError as exc:
            raise InvalidArguments(f"{where!r}: {exc}") from None
        old = member.value
        if isinstance(old, bool) or isinstance(value, bool):
            ok = isinstance(old, bool) == isinstance(value, bool) or old is None
        elif isinstance(old, (int, float)):
            ok = isinstance(value, (int, float)) and (isinstance(old, float) or isinstance(value, int))
        elif isinstance(old, str):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            raise InvalidArguments(f"{where!r} holds a {type_name(old)}; got a {type(value).__name__}")
        return value

    def _annotation(self, cls: type, name: str) -> Any:
        hints = self._hints.get(cls)
        if hints is None:
            try:
                raw = typing.get_type_hints(cls)
            except Exception:  # unresolvable annotations: fall back to the value's kind
                raw = {}
            hints = self._hints[cls] = {k: usable_annotation(v) for k, v in raw.items()}
        return hints.get(name, Any)


async def _awaited(label: str, pending: Awaitable[Any], timeout: float | None, policy: Policy) -> Any:
    try:
        async with asyncio.timeout(timeout):
            value = await pending
    except TimeoutError:
        raise Timeout(f"{label} did not finish within {timeout:g} s") from None
    except LabdeckError:
        raise
    except Exception as exc:
        raise CallFailed(exc) from None
    return _result(label, value, policy=policy)


def _result(label: str, value: Any, *, policy: Policy) -> Any:
    """A call's result as it goes out: a path does not reach into it, so the depth limit
    does not apply; private keys and disallowed mappings do."""
    try:
        return public_value(value, policy.allowed_mappings)
    except NotSerializable as exc:
        raise NotSerializable(f"the result of {label}: {exc.message}") from None
    except AccessDenied as exc:
        raise AccessDenied(f"the result of {label}: {exc.message}") from None


def import_reference(ref: str, where: str) -> Any:
    """Import ``"package.module:attribute.path"``.

    Raises:
        ConfigError: the reference is malformed, the module cannot be imported or has no
            such attribute; the message starts with ``where``.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{where}: {ref!r} is not of the form 'module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{where}: cannot import module {module_name!r}: {exc}") from None
    except Exception as exc:  # the module itself failed while being imported
        raise ConfigError(f"{where}: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        if part.startswith("_"):
            raise ConfigError(f"{where}: {ref!r}: private names cannot be exposed")
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{where}: module {module_name!r} has no attribute {attr!r}") from None
    return obj
