"""The value-conversion rule: what a Python value becomes on the wire, and back.

Outgoing values (:func:`to_wire`), applied recursively:

==================================  =========================================
Python                              JSON
==================================  =========================================
``None``, ``bool``, ``int``,        as is
``float``, ``str``
``list``, ``tuple``, ``set``,       array (sets sorted when their items allow)
``frozenset``
``dict`` and other mappings         object; keys must be ``str``, ``int``, ``float``
                                    or ``bool`` (non-string keys become strings)
numpy scalars and arrays            their ``tolist()``: numbers, nested arrays
``datetime``, ``date``, ``time``    ISO 8601 string (``isoformat()``)
``enum.Enum`` members               their ``value``
dataclass instances,                object of their fields; fields whose name starts
msgspec ``Struct`` instances        with ``_`` or that the class marks hidden
                                    (``__labdeck_hidden__``) are left out
``bytes``, ``bytearray``,           refused: binary data has no JSON form
``memoryview``
anything else                       refused
==================================  =========================================

A refused value raises :class:`NotSerializable` naming its type. Nesting deeper than
:data:`MAX_NESTING` (or a cycle) is refused too.

Values read from exposed objects — ``get``, ``call`` results, the values ``dir`` shows,
live updates — go out through :func:`public_value`, which applies the access policy to
what is inside them as the path walk applies it to segments:

* keys of mappings that are private (``_secret``, ``__doc__``, look-alikes such as
  ``"\uff3fsecret"``) are left out, at every depth, like private dataclass fields;
* a mapping whose type the policy does not allow (``os.environ``, ``ChainMap``...) or a
  namespace is refused (``AccessDenied``), wherever it sits in the value;
* with ``levels``, mapping and object levels count against the path depth limit: a
  value read at ``["sample", "d"]`` under ``max_depth=4`` may hold a mapping whose keys
  sit at depth 3 and 4, not deeper (``AccessDenied``). Lists do not count, as no path
  indexes them.

Incoming values (:func:`from_wire`) are plain JSON; where a method parameter or an
attribute has a type annotation, the value is checked and converted against it with
msgspec's strict rules (an ``int`` is accepted for ``float``, ``"3"`` is not accepted for
``int``; a JSON object becomes a dataclass or Struct when one is annotated). Nothing
is ever unpickled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from labdeck.exceptions import AccessDenied, NotSerializable
from labdeck.objects.policy import is_private
from labdeck.objects.resolve import forbidden, mapping_refusal

__all__ = ["MAX_INT", "MAX_NESTING", "PLAIN_TYPES", "check_incoming", "from_wire", "public_value", "to_wire",
           "type_name"]

MAX_NESTING = 64
MAX_INT = 2**64
"""Incoming integers lie in ``[-MAX_INT, MAX_INT)``: what msgspec's typed decoders take."""

_PLAIN = (str, int, float, bool, type(None))
_AS_IS = frozenset((str, int, float, bool))
"""Annotations that a JSON value of exactly that type meets as it is."""


def type_name(obj: Any) -> str:
    """``module.Qualname`` of ``obj``'s type (bare name for builtins)."""
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


_UNLIMITED = MAX_NESTING + 1


def to_wire(value: Any, _depth: int = 0) -> Any:
    """Convert ``value`` to something JSON carries, by the rule in the module docstring.

    Raises:
        NotSerializable: the value (or one inside it) has no JSON form; names its type.
    """
    return _convert(value, _depth, _UNLIMITED, None)


def public_value(value: Any, mappings: frozenset[type], levels: int | None = None) -> Any:
    """:func:`to_wire` for a value read from an exposed object: private keys left out,
    disallowed mappings refused, and, with ``levels``, at most that many mapping or object
    levels (see the module docstring).

    Args:
        mappings: the mapping types the policy allows beyond ``dict`` and ``TrackedDict``.
        levels: ``max_depth`` minus the length of the path the value was read at;
            ``None`` for a call's result, which no path walks into.

    Raises:
        NotSerializable: the value has no JSON form.
        AccessDenied: it holds a mapping the policy refuses, or nests too deep; the
            caller adds the path to the message.
    """
    if isinstance(value, _PLAIN):  # the common result, at once
        return value
    return _convert(value, 0, _UNLIMITED if levels is None else levels, mappings)


def _convert(value: Any, depth: int, levels: int, rules: frozenset[type] | None) -> Any:
    """``rules``: the allowed mapping types for a value read from an exposed object,
    ``None`` for plain conversion; ``levels``: mapping or object levels still allowed.

    Containers that hold only plain values (a list of floats, a dict of settings) are
    returned as they are, for msgspec to encode in C: their check runs in C too
    (:func:`_plain_items`, :func:`_plain_keys`), and only what fails it is walked here.
    """
    if isinstance(value, _PLAIN):
        return value
    if depth >= MAX_NESTING:
        raise NotSerializable(f"value nested deeper than {MAX_NESTING} levels (or cyclic)")
    d = depth + 1
    kind = type(value)
    if kind is list or (kind is tuple and rules is not None):
        if _plain_items(value):
            return value
        return [_convert(v, d, levels, rules) for v in value]
    if isinstance(value, (list, tuple)):
        return [_convert(v, d, levels, rules) for v in value]
    if isinstance(value, Mapping):
        if rules is None:
            if kind is dict and _plain_keys(value) and _plain_items(value.values()):
                return value
            return {_key(k): _convert(v, d, levels, rules) for k, v in value.items()}
        _check_container(value, levels, rules)
        if kind is dict and _plain_keys(value) and _plain_items(value.values()):
            return value  # no private key, nothing inside to check: as it is
        return {
            _key(k): _convert(v, d, levels - 1, rules)
            for k, v in value.items()
            if not (isinstance(k, str) and is_private(k))
        }
    if isinstance(value, enum.Enum):
        return _convert(value.value, d, levels, rules)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        items = [_convert(v, d, levels, rules) for v in value]
        with contextlib.suppress(TypeError):  # mixed types: keep iteration order
            items.sort()
        return items
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise NotSerializable(f"values of type {type_name(value)} are binary and cannot be sent as JSON")
    if type(value).__module__ == "numpy" and callable(getattr(value, "tolist", None)):
        return _convert(value.tolist(), d, levels, rules)
    return _fields(value, d, levels, rules)


PLAIN_TYPES = frozenset(_PLAIN)
"""The types of the values sent as they are (exactly these: a subclass is converted)."""


def _plain_items(items: Iterable[Any]) -> bool:
    """Whether every item is a plain value (exactly ``str``, ``int``, ``float``, ``bool``
    or ``None``: a subclass, an enum among them, is walked), checked in C."""
    return PLAIN_TYPES.issuperset(map(type, items))


def _plain_keys(mapping: Mapping[Any, Any]) -> bool:
    """Whether every key is an ASCII ``str`` that is not private, checked in C.

    Joined with NUL, a private key shows as NUL + ``_`` (a key holding NUL + ``_``
    itself is a false alarm, which only means the slow path); a non-``str`` key makes
    ``join`` fail and a non-ASCII one (a look-alike of ``_``) fails ``isascii``.
    """
    try:
        joined = "\0" + "\0".join(mapping)
    except TypeError:
        return False
    return joined.isascii() and "\0_" not in joined


_public_fields: dict[type, tuple[str, ...]] = {}


def _field_names(value: Any) -> tuple[str, ...] | None:
    """The public field names of a dataclass or Struct instance's type, once per type."""
    kind = type(value)
    names = _public_fields.get(kind)
    if names is None:
        if isinstance(value, msgspec.Struct):
            every: Iterable[str] = value.__struct_fields__
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            every = (f.name for f in dataclasses.fields(value))
        else:
            return None
        hidden = getattr(kind, "__labdeck_hidden__", ())
        names = tuple(n for n in every if not is_private(n) and n not in hidden)
        if len(_public_fields) < 4096:
            _public_fields[kind] = names
    return names


def _fields(value: Any, depth: int, levels: int, rules: frozenset[type] | None) -> dict[str, Any]:
    """A dataclass or Struct as the object of its public fields."""
    names = _field_names(value)
    if names is None:
        raise NotSerializable(f"values of type {type_name(value)} cannot be sent as JSON")
    if rules is not None:
        _check_container(value, levels, rules)
        levels -= 1
    out = {}
    for n in names:
        v = getattr(value, n)
        out[n] = v if type(v) in PLAIN_TYPES else _convert(v, depth, levels, rules)
    return out


def _check_container(value: Any, levels: int, rules: frozenset[type]) -> None:
    """Refuse a mapping or object that a path could not reach: too deep, or never walkable."""
    if (reason := forbidden(value)) is not None:
        raise AccessDenied(f"the value holds {reason}, which is never exposed")
    if (reason := mapping_refusal(value, rules)) is not None:
        raise AccessDenied(f"the value holds {reason}")
    if levels <= 0:
        raise AccessDenied("the value nests deeper than the policy's depth limit; read its parts")


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, (int, float, bool)):
        return str(key)
    raise NotSerializable(f"mapping keys of type {type_name(key)} cannot be sent as JSON")


def from_wire(value: Any, annotation: Any) -> Any:
    """Check and convert a JSON value against ``annotation`` (msgspec, strict).

    Args:
        annotation: a resolved type; ``Any`` (or a type msgspec does not know) passes the
            value through unchanged.

    Raises:
        TypeError: the value does not fit, or :func:`check_incoming` refuses it; the
            message says why.
    """
    if annotation is Any:
        return value
    if type(value) is annotation and annotation in _AS_IS and (annotation is not int or -MAX_INT <= value < MAX_INT):
        return value  # what msgspec would return, without its call
    check_incoming(value)  # msgspec would fill a dataclass's private fields from them
    try:
        return msgspec.convert(value, annotation, strict=True)
    except msgspec.ValidationError as exc:
        raise TypeError(str(exc)) from None


def check_incoming(value: Any) -> None:
    """Refuse a JSON value that holds, at any depth, an object key that is private (a
    browser never writes a name it could not name in a path) or an integer beyond 64 bits
    (no JSON peer holds one exactly, and lab code trusts a number it was sent to be sane).
    The hub has already bounded the nesting of every frame.

    Raises:
        TypeError: naming the key or the number's size.
    """
    if isinstance(value, dict):
        for k, v in value.items():
            if is_private(k):
                raise TypeError(f"key {k!r}: names starting with '_' cannot be set")
            check_incoming(v)
    elif isinstance(value, list):
        for v in value:
            check_incoming(v)
    elif isinstance(value, int) and not -MAX_INT <= value < MAX_INT:
        raise TypeError(f"an integer of {value.bit_length()} bits is beyond the {MAX_INT.bit_length() - 1} allowed")
