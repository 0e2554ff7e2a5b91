"""Live attributes: values whose every change is published to the browsers.

Three ways to declare them:

* the descriptor::

      class Device:
          temperature = labdeck.observed(20.0)

* the class decorator, for attributes assigned in ``__init__`` or declared by a
  dataclass (put it above ``@dataclass``)::

      @labdeck.observable("gain", "contrast")
      @dataclass
      class StimulusSettings:
          gain: float = 1.0
          contrast: float = 0.5

* a dict of tracked values, exposed as an object of its own::

      settings = labdeck.TrackedDict(gain=1.0, contrast=0.5)
      deck.expose("settings", settings)

When the object is exposed as ``name``, every assignment to an observed attribute
``attr`` — from Python, in any thread, or from a browser's ``set`` — publishes the new
value on channel ``obj/<name>/<attr>`` (``obj/<name>/<child>/<attr>`` for an observed
object reached through an attribute of the exposed one). An assignment of an equal
value publishes nothing. Deleting publishes what reading the attribute then gives:
its default when it has one (a class-level value or a dataclass default), which a
``get`` returns from then on; otherwise ``null``, and a ``get`` answers ``NotFound``.
A delete that leaves the value read unchanged publishes nothing. A value with no JSON
form is not published; the failure is logged.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Generic, TypeVar, overload

__all__ = ["IdentityMap", "TrackedDict", "Watcher", "observable", "observed", "observed_names", "watch"]

log = logging.getLogger(__name__)

T = TypeVar("T")
C = TypeVar("C", bound=type)

Watcher = Callable[[str, Any], None]
"""Called with (attribute name, new value) after every change."""

_MISSING: Any = object()


class IdentityMap(Generic[T]):
    """Values attached to live objects by identity, forgotten when the object dies.

    Unlike ``WeakKeyDictionary`` it does not hash the objects: an ``eq=True`` dataclass
    (unhashable) is a typical observed object.
    """

    def __init__(self) -> None:
        self._items: dict[int, tuple[weakref.ref[Any], T]] = {}
        self._lock = threading.Lock()

    def get(self, obj: Any) -> T | None:
        item = self._items.get(id(obj))
        return item[1] if item is not None and item[0]() is obj else None

    def setdefault(self, obj: Any, default: T) -> T:
        """The value for ``obj``, storing ``default`` first if there is none.

        Raises:
            TypeError: ``obj`` cannot be weakly referenced.
        """
        with self._lock:
            current = self.get(obj)
            if current is not None:
                return current
            key = id(obj)
            ref = weakref.ref(obj, lambda _: self._items.pop(key, None))
            self._items[key] = (ref, default)
            return default


_watchers: IdentityMap[list[Watcher]] = IdentityMap()


def watch(obj: Any, watcher: Watcher) -> None:
    """Call ``watcher`` after every change of an observed attribute of ``obj``.

    Raises:
        TypeError: ``obj`` cannot be weakly referenced (a class with ``__slots__`` and
            no ``__weakref__``).
    """
    _watchers.setdefault(obj, []).append(watcher)


def _notify(obj: Any, name: str, value: Any) -> None:
    watchers = _watchers.get(obj)
    for watcher in list(watchers or ()):
        try:
            watcher(name, value)
        except Exception:  # a failed publish must not break the assignment that caused it
            log.exception("publishing a change of %r failed", name)


def _same(old: Any, new: Any) -> bool:
    if old is new:
        return True
    try:
        return type(old) is type(new) and bool(old == new)
    except Exception:  # arrays and other values without a single truth value
        return False


class observed(Generic[T]):  # lower case: used like a field
    """A data descriptor that publishes every change of its value (see module doc).

    Args:
        default: the value before the first assignment; without one, reading an
            unassigned attribute raises ``AttributeError``.
        doc: shown by ``dir`` when the policy allows docs.
        check: called with every value assigned (from Python or a browser's ``set``);
            returns the value to keep, or raises ``ValueError`` or ``TypeError`` to
            refuse it (a browser then gets ``CallFailed`` with the message). A check
            keeps a value valid however it is set, so no setter method can be bypassed.
    """

    def __init__(self, default: T = _MISSING, *, doc: str | None = None,
                 check: Callable[[Any], T] | None = None) -> None:
        self.default = default
        self.name = ""
        self.check = check
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> observed[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> observed[T] | T:
        if obj is None:
            return self
        value = obj.__dict__.get(self.name, self.default)
        if value is _MISSING:
            raise AttributeError(f"{type(obj).__name__!r} object has no attribute {self.name!r}")
        return value  # type: ignore[no-any-return]

    def __set__(self, obj: object, value: T) -> None:
        if self.check is not None:
            value = self.check(value)
        old = obj.__dict__.get(self.name, self.default)
        obj.__dict__[self.name] = value
        if not _same(old, value):
            _notify(obj, self.name, value)

    def __delete__(self, obj: object) -> None:
        old = obj.__dict__.pop(self.name, _MISSING)
        if old is _MISSING:
            raise AttributeError(self.name)
        # The live value must be what a read now returns: the default, where one exists.
        now = None if self.default is _MISSING else self.default
        if self.default is _MISSING or not _same(old, now):
            _notify(obj, self.name, now)


def observable(*names: str) -> Callable[[C], C]:
    """Class decorator: make attributes ``names`` observed; a class-level value is the default."""

    def decorate(cls: C) -> C:
        for name in names:
            default = cls.__dict__.get(name, _MISSING)
            descriptor: observed[Any] = observed(default)
            descriptor.__set_name__(cls, name)
            setattr(cls, name, descriptor)
        return cls

    return decorate


def observed_names(obj: Any) -> list[str]:
    """The observed attributes of ``obj``: its descriptors, or a TrackedDict's keys."""
    if isinstance(obj, TrackedDict):
        return [k for k in obj if isinstance(k, str)]
    names: dict[str, None] = {}
    for klass in type(obj).__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, observed):
                names.setdefault(name)
    return list(names)


class TrackedDict(MutableMapping[str, Any]):
    """A dict whose every key is a live value: each change publishes ``obj/<name>/<key>``.

    Exposed, its keys are reached as path segments (``["settings", "gain"]``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._data: dict[str, Any] = dict(*args, **kwargs)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        old = self._data.get(key, _MISSING)
        self._data[key] = value
        if not _same(old, value):
            _notify(self, key, value)

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        _notify(self, key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"TrackedDict({self._data!r})"
