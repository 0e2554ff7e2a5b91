"""The message tables of ``docs/topics/protocol.md``, generated from the wire Structs.

The page states every field, its type, its limits and its default as the decoder
enforces them, because both come from the same :mod:`labdeck.protocol.wire` types; a
test fails when the page's copy is stale (regenerate it with
``LABDECK_UPDATE_SNAPSHOTS=1``). Pure: it only reads type information.
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec
from msgspec import inspect

from labdeck.protocol import wire

__all__ = ["COMMON_ERRORS", "OP_ERRORS", "markdown"]

COMMON_ERRORS = ("BadRequest", "UnknownOp", "DuplicateId", "AccessDenied")
"""What any request can be answered with: a malformed frame, an op the protocol lacks,
an id still in flight, a role too low for the op."""

OP_ERRORS: dict[str, tuple[str, ...]] = {
    "sub": (),
    "unsub": (),
    "pub": ("OverBudget",),
    "channels": (),
    "call": (
        "NotFound", "InvalidArguments", "Busy", "Timeout", "NotSerializable", "TooManyInFlight", "the method's own",
    ),
    "get": ("NotFound", "NotSerializable", "TooManyInFlight"),
    "set": ("NotFound", "InvalidArguments", "TooManyInFlight", "the setter's own"),
    "del": ("NotFound", "TooManyInFlight"),
    "dir": ("NotFound", "TooManyInFlight"),
}
"""The errors each op can be answered with beyond :data:`COMMON_ERRORS`."""

_SERVER_MESSAGES: tuple[tuple[str, type[msgspec.Struct]], ...] = (
    ("reply", wire._Reply),
    ("reply, cut at `limit`", wire._TruncatedReply),
    ("error reply", wire._ErrorReply),
    ("push", wire._Push),
    ("gap notice", wire._Gap),
)


def _type(t: inspect.Type) -> str:
    """A field type in words, with the limits the decoder enforces."""
    if isinstance(t, inspect.UnionType):
        return " or ".join(_type(member) for member in t.types)
    if isinstance(t, inspect.IntType):
        return "integer" + _range(t.ge, t.le)
    if isinstance(t, inspect.StrType):
        return "string" + _length(t.min_length, t.max_length)
    if isinstance(t, inspect.ListType):
        return f"array of {_plural(_type(t.item_type))}"
    if isinstance(t, inspect.DictType):
        return f"object of {_plural(_type(t.value_type))}"
    if isinstance(t, inspect.StructType):
        return "{" + ", ".join(f"`{f.encode_name}`: {_type(f.type)}" for f in t.fields) + "}"
    return _SIMPLE.get(type(t), type(t).__name__)


def _literal(t: inspect.Type) -> str | None:
    if isinstance(t, inspect.LiteralType):
        return " or ".join(msgspec.json.encode(v).decode() for v in t.values)
    return None


_SIMPLE: dict[type[inspect.Type], str] = {
    inspect.AnyType: "any JSON value",
    inspect.RawType: "any JSON value",
    inspect.NoneType: "`null`",
    inspect.BoolType: "boolean",
    inspect.FloatType: "number",
}


def _plural(name: str) -> str:
    return {"any JSON value": "any JSON values", "string": "strings"}.get(name, name)


def _length(least: int | None, most: int | None) -> str:
    if least and most is not None:
        return f" ({least} to {most} characters)"
    return f" (at most {most} characters)" if most is not None else ""


def _range(ge: int | None, le: int | None) -> str:
    if ge is not None and le is not None:
        return f" from {ge} to {le}"
    if ge is not None:
        return f" ≥ {ge}"
    return f" ≤ {le}" if le is not None else ""


def _default(field: inspect.Field) -> str:
    if field.required:
        return "required"
    if field.default_factory is not msgspec.NODEFAULT:
        value: Any = field.default_factory()
    else:
        value = field.default
    if isinstance(value, msgspec.Raw):
        return f"`{bytes(value).decode()}`"
    return f"`{msgspec.json.encode(value).decode()}`"


def _request_rows() -> list[str]:
    rows = ["| op | field | type and limits | when absent |", "| --- | --- | --- | --- |"]
    for struct in typing.get_args(wire.Request):
        info = inspect.type_info(struct)
        assert isinstance(info, inspect.StructType)
        op = struct.__struct_config__.tag
        rows.append(f"| `{op}` | `op` | `{op!r}`".replace("'", '"') + " | required |")
        rows += [f"| | `{f.encode_name}` | {_type(f.type)} | {_default(f)} |" for f in info.fields]
    return rows


def _error_rows() -> list[str]:
    rows = ["| op | errors beyond the common ones |", "| --- | --- |"]
    for op in wire.OPS:
        found = OP_ERRORS[op]
        rows.append(f"| `{op}` | {', '.join(e if ' ' in e else f'`{e}`' for e in found) or '—'} |")
    return rows


def _server_rows() -> list[str]:
    rows = ["| message | field | type |", "| --- | --- | --- |"]
    for name, struct in _SERVER_MESSAGES:
        info = inspect.type_info(struct)
        assert isinstance(info, inspect.StructType)
        rows.append(f"| {name} | | |")
        rows += [f"| | `{f.encode_name}` | {_literal(f.type) or _type(f.type)} |" for f in info.fields]
    return rows


def markdown() -> str:
    """The generated part of the protocol page: requests, their errors, server messages."""
    common = ", ".join(f"`{e}`" for e in COMMON_ERRORS)
    lines = [
        "Every request, field by field. A request may carry no other field: one that its op does",
        "not define is refused with `BadRequest`, so a misspelt field is never silently ignored.",
        "",
        *_request_rows(),
        "",
        f"Any request can be answered with {common}; beyond those:",
        "",
        *_error_rows(),
        "",
        "What the server sends:",
        "",
        *_server_rows(),
    ]
    return "\n".join(lines) + "\n"
