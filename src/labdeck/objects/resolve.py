"""Path resolution: from ``["sample", "device", "gain"]`` to the Python member it names.

Walking is where the policy is enforced. For every segment, before anything is read:
the name is checked (no ``_``), the depth, the allow/deny lists and the hidden markers.
Then the container the segment is read from must be *walkable*:

* a mapping (segments are its string keys), or
* an instance of a class outside the standard library that is not a value type
  (number, string, sequence, set, bytes, enum, date/time, numpy value).

Never walkable, whatever the policy: modules, classes, functions and methods (their
``__globals__``, ``__code__``...), builtins and bound builtins, interpreter internals
(code, frames, generators). A segment that would read from one of them is refused with
``AccessDenied``. Modules, classes and builtins are not reachable as values either, so
they can be neither read, called nor listed.
"""

from __future__ import annotations

import datetime
import enum
import inspect
import sys
import types
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from labdeck.exceptions import AccessDenied, CallFailed, NotFound
from labdeck.objects.markers import HIDDEN_ATTR, is_hidden
from labdeck.objects.policy import Policy, dotted

__all__ = [
    "MISSING",
    "Member",
    "class_member",
    "forbidden",
    "is_callable_member",
    "is_walkable",
    "lookup",
    "resolve",
]

MISSING: Any = object()

_BUILTINS = (
    types.BuiltinFunctionType,
    types.BuiltinMethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
)
_INTERNALS = (
    types.CodeType,
    types.FrameType,
    types.TracebackType,
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    types.CellType,
    types.MappingProxyType,
)
_VALUES = (str, bytes, bytearray, memoryview, int, float, complex, list, tuple, set, frozenset, range,
           enum.Enum, datetime.date, datetime.time, datetime.timedelta)


def forbidden(value: Any) -> str | None:
    """What makes ``value`` unreachable (``"a module"``...), or ``None`` if it is not."""
    if isinstance(value, types.ModuleType):
        return "a module"
    if isinstance(value, type):
        return "a class"
    if isinstance(value, _BUILTINS):
        return "a builtin"
    if isinstance(value, _INTERNALS):
        return "interpreter internals"
    return None


def is_callable_member(value: Any) -> bool:
    """A Python function or a method bound to one: the only things a browser may call."""
    if inspect.ismethod(value):
        return inspect.isfunction(value.__func__)
    return inspect.isfunction(value)


_CACHE_LIMIT = 65536
_walkable: dict[type, bool] = {}
_class_members: dict[tuple[type, str], tuple[Any, bool]] = {}


def is_walkable(value: Any) -> bool:
    """Whether path segments may be read from ``value`` (see module doc).

    The answer depends on the type only, so it is computed once per type.
    """
    cls = type(value)
    known = _walkable.get(cls)
    if known is None:
        known = _type_walkable(value)
        if len(_walkable) < _CACHE_LIMIT:
            _walkable[cls] = known
    return known


def class_member(cls: type, key: str) -> tuple[Any, bool]:
    """``(definition, hidden)`` of member ``key`` of class ``cls``, as the class body
    and its bases define it (:data:`MISSING` if none). Looked up once per class and name."""
    cached = _class_members.get((cls, key))
    if cached is None:
        static = MISSING
        for klass in cls.__mro__:
            if key in vars(klass):
                static = vars(klass)[key]
                break
        cached = (static, is_hidden(cls, key, static))
        if len(_class_members) < _CACHE_LIMIT:
            _class_members[(cls, key)] = cached
    return cached


def _type_walkable(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    if forbidden(value) or isinstance(value, _VALUES) or value is None or isinstance(value, bool):
        return False
    if callable(value) and (inspect.isfunction(value) or inspect.ismethod(value)):
        return False
    module = (type(value).__module__ or "").partition(".")[0]
    return module not in sys.stdlib_module_names and module not in ("builtins", "numpy")


@dataclass
class Member:
    """A resolved path.

    Attributes:
        path: the full path, exposed name first.
        parent: what the last segment is read from (``None`` for an exposed object).
        key: the last segment.
        value: the member's current value, or :data:`MISSING` when it does not exist.
        static: the class-level definition (property, function, observed...), or
            :data:`MISSING`; never a value from the instance.
        mapping: ``parent`` is a mapping: the segment is a key, not an attribute.
    """

    path: list[str]
    parent: Any
    key: str
    value: Any
    static: Any = MISSING
    mapping: bool = False

    @property
    def rel(self) -> tuple[str, ...]:
        """The path relative to the exposed object, as policy lists use it."""
        return tuple(self.path[1:])

    @property
    def writable_mapping(self) -> bool:
        return self.mapping and isinstance(self.parent, MutableMapping)


def lookup(parent: Any, key: str, path: list[str], *, must_exist: bool = True) -> Member:
    """Read segment ``key`` from ``parent``, refusing hidden members.

    Raises:
        AccessDenied: ``parent`` is not walkable, or the member is hidden or forbidden.
        NotFound: no such member (unless ``must_exist`` is false).
    """
    if not is_walkable(parent):
        where = dotted(path)
        what = forbidden(parent) or ("a function" if callable(parent) else f"a {type(parent).__name__} value")
        raise AccessDenied(f"{where!r}: cannot look inside {what}")
    if isinstance(parent, Mapping):
        value = parent.get(key, MISSING)
        member = Member(path, parent, key, value, mapping=True)
    else:
        static, hidden = class_member(type(parent), key)
        if hidden:
            raise AccessDenied(f"{dotted(path)!r} is not exposed")
        try:
            value = getattr(parent, key)
        except AttributeError:
            value = MISSING
        except Exception as exc:  # a property that failed: report it like a method that raised
            raise CallFailed(exc) from exc
        member = Member(path, parent, key, value, static)
    if member.value is MISSING:
        if must_exist:
            raise NotFound(f"{dotted(path)!r} does not exist")
        return member
    if (reason := forbidden(member.value)) is not None:
        raise AccessDenied(f"{dotted(path)!r} is {reason}, which is never exposed")
    if is_callable_member(member.value) and getattr(member.value, HIDDEN_ATTR, False) is True:
        raise AccessDenied(f"{dotted(path)!r} is not exposed")
    return member


def resolve(root: Any, policy: Policy, path: list[str], *, must_exist: bool = True) -> Member:
    """Walk ``path`` (``path[0]`` names ``root``) under ``policy``.

    The caller checks the op-specific rules (role, ``exposed``, ``writable``) on the
    returned member. Every segment of the path is checked before anything is read.

    Raises:
        AccessDenied: a segment the policy refuses, or a walk into something never walkable.
        NotFound: a segment that does not exist (the last one only if ``must_exist``).
    """
    policy.check_path(path)
    member = Member(path[:1], None, path[0], root)
    for i in range(1, len(path)):
        last = i == len(path) - 1
        member = lookup(member.value, path[i], path[: i + 1], must_exist=must_exist or not last)
    member.path = path
    return member
