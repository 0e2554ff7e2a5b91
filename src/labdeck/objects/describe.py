"""What ``dir`` answers: a description of a path and, for an object, of its members.

An object::

    {"path": ["sample"], "kind": "object", "type": "Sample", "doc": "...",
     "members": [
       {"name": "a", "kind": "attribute", "type": "int", "value": 1, "writable": true,
        "channel": "obj/sample/a"},                       # channel: observed attributes only
       {"name": "test_sum", "kind": "method", "signature": "(a: int, b: int) -> int",
        "params": [{"name": "a", "kind": "positional_or_keyword", "type": "int",
                    "required": true}, ...],
        "returns": "int", "async": false, "exclusive": false, "doc": "..."},
       {"name": "device", "kind": "object", "type": "Device"}]}

Kinds: ``object`` (can be walked into: ``dir`` it), ``attribute`` (a value: ``get``,
``set``), ``method`` (``call``). ``doc`` appears when the policy allows docs, ``source``
when it allows source. Members the policy or the markers hide, and members that are
modules, classes or builtins, are left out; so are those deeper than the depth limit.
A member whose value cannot be read or converted has ``error`` instead of ``value``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from labdeck.exceptions import LabdeckError
from labdeck.objects.calls import signature_of
from labdeck.objects.convert import to_wire, type_name
from labdeck.objects.markers import call_options
from labdeck.objects.observe import TrackedDict, observed, observed_names
from labdeck.objects.policy import Policy, check_name
from labdeck.objects.resolve import MISSING, Member, is_callable_member, is_walkable, lookup

__all__ = ["describe", "describe_member", "describe_method", "kind_of"]


def kind_of(value: Any) -> str:
    """``method``, ``object`` or ``attribute`` (see module doc)."""
    if is_callable_member(value):
        return "method"
    if isinstance(value, (dict, list)) or not is_walkable(value):
        return "attribute"
    return "object"


def _annotation(a: Any) -> str | None:
    if a is inspect.Parameter.empty:
        return None
    return a if isinstance(a, str) else getattr(a, "__name__", None) or str(a)


def describe_method(fn: Callable[..., Any], policy: Policy) -> dict[str, Any]:
    """The ``dir`` entry of a method, without its name."""
    sig = signature_of(fn).sig
    params = []
    for p in sig.parameters.values():
        entry: dict[str, Any] = {"name": p.name, "kind": p.kind.name.lower(), "required": p.default is p.empty}
        if (t := _annotation(p.annotation)) is not None:
            entry["type"] = t
        if p.default is not p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            try:
                entry["default"] = to_wire(p.default)
            except LabdeckError:
                entry["default"] = repr(p.default)[:100]
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            entry["required"] = False
        params.append(entry)
    opts = call_options(fn)
    out: dict[str, Any] = {
        "kind": "method",
        "signature": str(sig),
        "params": params,
        "returns": _annotation(sig.return_annotation),
        "async": signature_of(fn).is_async,
        "exclusive": bool(opts.exclusive),
    }
    _docs(out, fn, policy)
    if policy.source:
        with contextlib.suppress(OSError, TypeError):
            out["source"] = inspect.getsource(fn)
    return out


def _docs(out: dict[str, Any], thing: Any, policy: Policy) -> None:
    if policy.docs:
        doc = inspect.getdoc(thing)
        if doc:
            out["doc"] = doc


def _writable(member: Member) -> bool:
    if member.mapping:
        return member.writable_mapping
    static = member.static
    if isinstance(static, property):
        return static.fset is not None
    if isinstance(static, observed):
        return True
    parent = member.parent
    params = getattr(type(parent), "__dataclass_params__", None)
    if params is not None and params.frozen:
        return False
    if isinstance(parent, msgspec.Struct) and getattr(type(parent), "__struct_config__", None) is not None:
        return not type(parent).__struct_config__.frozen
    return static is MISSING or not inspect.isdatadescriptor(static) or hasattr(static, "__set__")


def describe_member(member: Member, policy: Policy, can_set: bool, channel_prefix: str | None) -> dict[str, Any]:
    """The ``dir`` entry of one resolved member."""
    value = member.value
    kind = kind_of(value)
    if kind == "method":
        return {"name": member.key, **describe_method(value, policy)}
    out: dict[str, Any] = {"name": member.key, "kind": kind, "type": type_name(value)}
    if kind == "attribute":
        try:
            out["value"] = to_wire(value)
        except LabdeckError as exc:
            out["error"] = f"{exc.wire_type}: {exc.message}"
        out["writable"] = can_set and policy.writable(member.rel) and _writable(member)
        if channel_prefix is not None:
            out["channel"] = f"{channel_prefix}/{member.key}"
        if isinstance(member.static, (property, observed)):
            _docs(out, member.static, policy)
    return out


def describe(
    target: Member,
    policy: Policy,
    *,
    can_set: bool,
    observed_prefix: Callable[[Any, list[str]], str | None],
) -> dict[str, Any]:
    """The ``dir`` answer for a resolved path.

    Args:
        can_set: the client's role may ``set``.
        observed_prefix: for an object and its path, the channel prefix of its observed
            attributes (registering them if needed), or ``None`` if it has none.
    """
    value, path = target.value, target.path
    if kind_of(value) != "object" and not isinstance(value, Mapping):
        return {"path": path, **describe_member(target, policy, can_set, None)}
    prefix = observed_prefix(value, path)
    live = set(observed_names(value)) if prefix is not None else set()
    out: dict[str, Any] = {"path": path, "kind": "object", "type": type_name(value)}
    if not isinstance(value, (dict, TrackedDict)):
        _docs(out, type(value), policy)
    members = []
    if len(path) < policy.max_depth:
        for name in _names(value):
            child_path = [*path, name]
            try:
                check_name(name, child_path)
                if not policy.visible(tuple(child_path[1:])):
                    continue
                member = lookup(value, name, child_path)
            except LabdeckError:
                continue  # hidden, forbidden or gone: not listed
            entry = describe_member(member, policy, can_set, prefix if name in live else None)
            if not policy.exposed(member.rel) and entry["kind"] != "object":
                continue  # on the way to an allowed member only
            members.append(entry)
    out["members"] = members
    return out


def _names(value: Any) -> list[str]:
    """Public member names in the order they were written: fields, class body, instance."""
    if isinstance(value, Mapping):
        return [k for k in value if isinstance(k, str)]
    order: dict[str, None] = {}
    if dataclasses.is_dataclass(value):
        order.update((f.name, None) for f in dataclasses.fields(value))
    for klass in type(value).__mro__[:-1]:
        order.update((n, None) for n in vars(klass))
    order.update((n, None) for n in getattr(value, "__dict__", {}))
    order.update((n, None) for n in dir(value))
    return [n for n in order if not n.startswith("_")]
