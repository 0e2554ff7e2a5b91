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

from labdeck.exceptions import NotSerializable

__all__ = ["MAX_NESTING", "from_wire", "to_wire", "type_name"]

MAX_NESTING = 64

_PLAIN = (str, int, float, bool, type(None))


def type_name(obj: Any) -> str:
    """``module.Qualname`` of ``obj``'s type (bare name for builtins)."""
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def to_wire(value: Any, _depth: int = 0) -> Any:
    """Convert ``value`` to something JSON carries, by the rule in the module docstring.

    Raises:
        NotSerializable: the value (or one inside it) has no JSON form; names its type.
    """
    if isinstance(value, _PLAIN):
        return value
    if _depth >= MAX_NESTING:
        raise NotSerializable(f"value nested deeper than {MAX_NESTING} levels (or cyclic)")
    d = _depth + 1
    if isinstance(value, (list, tuple)):
        return [to_wire(v, d) for v in value]
    if isinstance(value, Mapping):
        return {_key(k): to_wire(v, d) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return to_wire(value.value, d)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        items = [to_wire(v, d) for v in value]
        with contextlib.suppress(TypeError):  # mixed types: keep iteration order
            items.sort()
        return items
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise NotSerializable(f"values of type {type_name(value)} are binary and cannot be sent as JSON")
    if type(value).__module__ == "numpy" and callable(getattr(value, "tolist", None)):
        return to_wire(value.tolist(), d)
    if isinstance(value, msgspec.Struct):
        names: Iterable[str] = value.__struct_fields__
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = (f.name for f in dataclasses.fields(value))
    else:
        raise NotSerializable(f"values of type {type_name(value)} cannot be sent as JSON")
    hidden = getattr(type(value), "__labdeck_hidden__", ())
    return {n: to_wire(getattr(value, n), d) for n in names if not n.startswith("_") and n not in hidden}


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
        TypeError: the value does not fit; the message says why.
    """
    if annotation is Any:
        return value
    try:
        return msgspec.convert(value, annotation, strict=True)
    except msgspec.ValidationError as exc:
        raise TypeError(str(exc)) from None
