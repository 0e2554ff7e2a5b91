"""Path resolution: from ``["sample", "device", "gain"]`` to the Python member it names.

Walking is where the policy is enforced. For every segment, before anything is read:
the name is checked (no ``_``), the depth, the allow/deny lists and the hidden markers.
Then the container the segment is read from must be *walkable*:

* a ``dict`` (or a subclass) or a :class:`~labdeck.objects.TrackedDict` (segments are
  its string keys); another mapping type only when the policy lists it in ``mappings``
  (``ChainMap``, ``MappingProxyType``, a lab's own ``Mapping`` class...), or
* an instance of a class outside the standard library that is not a value type
  (number, string, sequence, set, bytes, enum, date/time, numpy value).

Never walkable, whatever the policy: modules, classes, functions and methods (their
``__globals__``, ``__code__``...), builtins and bound builtins, interpreter internals
(code, frames, generators), ``os.environ`` and namespaces (a module's ``__dict__``, a
function's ``__globals__``, a class's ``vars()``: any mapping holding ``__doc__`` or
``__builtins__``). A segment that would read from one of them is refused with
``AccessDenied``. These are not reachable as values either, so they can be neither read,
called nor listed; nor can a mapping of a type the policy does not allow, nor a function
of the standard library (``shutil.rmtree`` held by an attribute, ``Thread.start``
inherited by a lab's class).
"""

from __future__ import annotations

import datetime
import enum
import inspect
import os
import sys
import types
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from labdeck.exceptions import AccessDenied, CallFailed, NotFound
from labdeck.objects.markers import HIDDEN_ATTR, is_hidden
from labdeck.objects.observe import TrackedDict
from labdeck.objects.policy import Policy, dotted

__all__ = [
    "MISSING",
    "Member",
    "class_member",
    "forbidden",
    "from_stdlib",
    "in_stdlib",
    "is_callable_member",
    "is_walkable",
    "is_walkable_object",
    "lookup",
    "mapping_refusal",
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
)
_VALUES = (str, bytes, bytearray, memoryview, int, float, complex, list, tuple, set, frozenset, range,
           enum.Enum, datetime.date, datetime.time, datetime.timedelta)


_ENVIRON = type(os.environ)  # os.environ and os.environb
_NAMESPACE_KEYS = ("__doc__", "__builtins__")
"""Keys every module, class and exec namespace holds and no lab's data does."""
_STDLIB = frozenset(sys.stdlib_module_names) | {"builtins"}

# What a type is, for walking: cached per type, as only the type decides (a mapping's
# allowance is then one set lookup in the policy's own set).
_NO, _YES, _DICT, _MAPPING = range(4)


def forbidden(value: Any) -> str | None:
    """What makes ``value`` unreachable (``"a module"``...), or ``None`` if it is not.

    Whether a mapping's type is allowed is the policy's to say (:func:`mapping_refusal`).
    """
    if type(value) is dict:  # the value met most often, inside results too: its one check
        return "a namespace" if any(k in value for k in _NAMESPACE_KEYS) else None
    if isinstance(value, types.ModuleType):
        return "a module"
    if isinstance(value, type):
        return "a class"
    if isinstance(value, _BUILTINS):
        return "a builtin"
    if isinstance(value, _INTERNALS):
        return "interpreter internals"
    if isinstance(value, (dict, types.MappingProxyType)):
        if any(k in value for k in _NAMESPACE_KEYS):
            return "a namespace"
    elif isinstance(value, _ENVIRON):
        return "the process environment"
    return None


def mapping_refusal(value: Any, allowed: frozenset[type]) -> str | None:
    """Why ``value``, a mapping whose type the policy may not allow, cannot be walked or
    read (``"a ChainMap, a mapping type the policy does not allow"``), or ``None``."""
    if _kind(type(value)) != _MAPPING or type(value) in allowed:
        return None
    return f"a {type(value).__name__}, a mapping type the policy does not allow"


def in_stdlib(module: str | None) -> bool:
    """Whether the module named ``module`` (a ``__module__``) is part of the standard library."""
    return (module or "").partition(".")[0] in _STDLIB


def from_stdlib(fn: Any) -> bool:
    """Whether function or method ``fn`` is defined in the standard library."""
    return in_stdlib(getattr(getattr(fn, "__func__", fn), "__module__", None))


def is_callable_member(value: Any) -> bool:
    """A Python function or a method bound to one: the only things a browser may call."""
    if inspect.ismethod(value):
        return inspect.isfunction(value.__func__)
    return inspect.isfunction(value)


_CACHE_LIMIT = 65536
_kinds: dict[type, int] = {}
_class_members: dict[tuple[type, str], tuple[Any, bool]] = {}


def is_walkable(value: Any, mappings: frozenset[type] = frozenset()) -> bool:
    """Whether path segments may be read from ``value`` (see module doc).

    Args:
        mappings: the mapping types the policy allows beyond ``dict`` and ``TrackedDict``.
    """
    kind = _kind(type(value))
    if kind == _MAPPING:
        return type(value) in mappings
    return kind != _NO


def is_walkable_object(cls: type) -> bool:
    """Whether segments are read from instances of ``cls`` as attributes (else as keys)."""
    return _kind(cls) == _YES


def _kind(cls: type) -> int:
    known = _kinds.get(cls)
    if known is None:
        known = _classify(cls)
        if len(_kinds) < _CACHE_LIMIT:
            _kinds[cls] = known
    return known


def class_member(cls: type, key: str) -> tuple[Any, bool]:
    """``(definition, hidden)`` of member ``key`` of class ``cls``, as the class body
    and its bases define it (:data:`MISSING` if none). Members a standard-library base
    class defines count as hidden. Looked up once per class and name."""
    cached = _class_members.get((cls, key))
    if cached is None:
        static, owner = MISSING, cls
        for klass in cls.__mro__:
            if key in vars(klass):
                static, owner = vars(klass)[key], klass
                break
        # what a standard-library base defines (Thread.start, Thread.daemon) is not the lab's
        cached = (static, is_hidden(cls, key, static) or (owner is not cls and in_stdlib(owner.__module__)))
        if len(_class_members) < _CACHE_LIMIT:
            _class_members[(cls, key)] = cached
    return cached


def _classify(cls: type) -> int:
    # by the type, never `value.__class__`, which an object may claim to be anything
    if issubclass(cls, (dict, TrackedDict)):
        return _DICT
    if issubclass(cls, _ENVIRON):
        return _NO
    if issubclass(cls, Mapping):
        return _MAPPING
    if issubclass(cls, (types.ModuleType, type, *_BUILTINS, *_INTERNALS, *_VALUES, type(None), bool)):
        return _NO
    if issubclass(cls, (types.FunctionType, types.MethodType)):
        return _NO
    return _NO if in_stdlib(cls.__module__) or cls.__module__.partition(".")[0] == "numpy" else _YES


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


def lookup(
    parent: Any, key: str, path: list[str], *, must_exist: bool = True, mappings: frozenset[type] = frozenset()
) -> Member:
    """Read segment ``key`` from ``parent``, refusing hidden members.

    Args:
        path: the path up to and including ``key``, for messages and the member.
        mappings: the mapping types the policy allows beyond ``dict`` and ``TrackedDict``.

    Raises:
        AccessDenied: ``parent`` is not walkable, or the member is hidden or forbidden.
        NotFound: no such member (unless ``must_exist`` is false).
    """
    return _lookup(parent, key, path, len(path), must_exist, mappings)


def _lookup(parent: Any, key: str, path: list[str], end: int, must_exist: bool, mappings: frozenset[type]) -> Member:
    """:func:`lookup` of ``path[end - 1]``; ``path[:end]`` is only cut for a refusal."""
    kind = _kind(type(parent))
    if kind == _NO or (kind == _MAPPING and type(parent) not in mappings):
        where = dotted(path[:end])
        what = (
            forbidden(parent)
            or mapping_refusal(parent, mappings)
            or ("a function" if callable(parent) else f"a {type(parent).__name__} value")
        )
        raise AccessDenied(f"{where!r}: cannot look inside {what}")
    if kind != _YES:
        value = parent.get(key, MISSING)
        static, mapping = MISSING, True
    else:
        static, hidden = class_member(type(parent), key)
        if hidden:
            raise AccessDenied(f"{dotted(path[:end])!r} is not exposed")
        try:
            value = getattr(parent, key)
        except AttributeError:
            value = MISSING
        except Exception as exc:  # a property that failed: report it like a method that raised
            raise CallFailed(exc) from exc
        mapping = False
    if value is MISSING:
        if must_exist:
            raise NotFound(f"{dotted(path[:end])!r} does not exist")
    elif (reason := _refusal(value, mappings)) is not None:
        raise AccessDenied(f"{dotted(path[:end])!r} {reason}")
    return Member(path if end == len(path) else path[:end], parent, key, value, static, mapping)


def _refusal(value: Any, mappings: frozenset[type]) -> str | None:
    """Why a value read at a path is refused (the message's tail), or ``None``."""
    if (reason := forbidden(value)) is not None:
        return f"is {reason}, which is never exposed"
    if (reason := mapping_refusal(value, mappings)) is not None:
        return f"is {reason}"
    if is_callable_member(value):
        if getattr(value, HIDDEN_ATTR, False) is True:
            return "is not exposed"
        if from_stdlib(value):
            return "is a function of the standard library, which is never exposed"
    return None


def resolve(
    root: Any, policy: Policy, path: list[str], *, must_exist: bool = True, trail: list[type] | None = None
) -> Member:
    """Walk ``path`` (``path[0]`` names ``root``) under ``policy``.

    The caller checks the op-specific rules (role, ``exposed``, ``writable``) on the
    returned member. Every segment of the path is checked before anything is read.

    Args:
        trail: gets the type of every object a segment is read from, ``root``'s first.

    Raises:
        AccessDenied: a segment the policy refuses, or a walk into something never walkable.
        NotFound: a segment that does not exist (the last one only if ``must_exist``).
    """
    policy.check_path(path)
    mappings = policy.allowed_mappings
    last = len(path) - 1
    if not last:
        return Member(path, None, path[0], root)
    value = root
    for i in range(1, last + 1):
        if trail is not None:
            trail.append(type(value))
        member = _lookup(value, path[i], path, i + 1, must_exist or i < last, mappings)
        value = member.value
    return member
