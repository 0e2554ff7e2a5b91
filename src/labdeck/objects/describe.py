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

from labdeck.exceptions import AccessDenied, LabdeckError
from labdeck.objects.calls import signature_of
from labdeck.objects.convert import public_value, type_name
from labdeck.objects.markers import call_options
from labdeck.objects.observe import TrackedDict, observed, observed_names
from labdeck.objects.policy import Policy, check_name, is_private
from labdeck.objects.resolve import MISSING, Member, in_stdlib, is_callable_member, is_walkable, lookup

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
    """The ``dir`` entry of a method, without its name.

    Parameters with private names (``_token="..."``) are left out of both the parameters
    and the signature: a browser cannot pass them. Defaults are shown in their wire form,
    under the same rules as any value read; one that has none shows as ``<TypeName>``,
    never as its ``repr`` (which would show a dataclass's private fields, a mapping's
    every key).
    """
    sig = signature_of(fn).sig
    shown = []
    params = []
    for p in sig.parameters.values():
        if is_private(p.name):
            continue
        entry: dict[str, Any] = {"name": p.name, "kind": p.kind.name.lower(), "required": p.default is p.empty}
        if (t := _annotation(p.annotation)) is not None:
            entry["type"] = t
        if p.default is not p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            default = _Default(p.default, policy)
            if default.wire is not MISSING:
                entry["default"] = default.wire
            p = p.replace(default=default)
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            entry["required"] = False
        params.append(entry)
        shown.append(p)
    sig = sig.replace(parameters=shown)
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


class _Default:
    """A parameter's default as ``dir`` shows it: its wire form, or ``<TypeName>``."""

    def __init__(self, value: Any, policy: Policy) -> None:
        self.type = type_name(value)
        try:
            self.wire: Any = public_value(value, policy.allowed_mappings)
        except LabdeckError:
            self.wire = MISSING

    def __repr__(self) -> str:
        # the wire form holds only JSON types, whose repr shows nothing more
        return f"<{self.type}>" if self.wire is MISSING else repr(self.wire)


def _docs(out: dict[str, Any], thing: Any, policy: Policy) -> None:
    if policy.docs:
        doc = inspect.getdoc(thing)
        if doc:
            out["doc"] = doc


def _class_docs(out: dict[str, Any], cls: type, policy: Policy) -> None:
    """The docstring a lab wrote for ``cls`` or a base class of its own, never one Python
    generated: a dataclass without a docstring gets ``Name(field: type = default, ...)``,
    a namedtuple ``Name(x, y)``, which would show private fields and their defaults."""
    if not policy.docs:
        return
    for klass in cls.__mro__:
        if in_stdlib(klass.__module__):
            return  # object, dict, Thread...: not the lab's words
        doc = vars(klass).get("__doc__")
        if isinstance(doc, str) and doc.strip():
            if not _generated(klass, doc):
                out["doc"] = inspect.cleandoc(doc)
            return


def _generated(cls: type, doc: str) -> bool:
    """Whether ``doc`` is the signature-like docstring a class factory writes."""
    text = doc.strip()
    return "\n" not in text and text.startswith(f"{cls.__name__}(") and text.endswith(")")


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
            if policy.withholds_below(member.rel):
                raise AccessDenied("it cannot be read whole: part of it is not exposed")
            out["value"] = public_value(value, policy.allowed_mappings, policy.max_depth - len(member.path))
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
        _class_docs(out, type(value), policy)
    members = []
    if len(path) < policy.max_depth:
        for name in _names(value):
            child_path = [*path, name]
            try:
                check_name(name, child_path)
                if not policy.visible(tuple(child_path[1:])):
                    continue
                member = lookup(value, name, child_path, mappings=policy.allowed_mappings)
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
