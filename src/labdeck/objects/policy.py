"""The access policy for exposed objects: who may do what, on which path.

Pure: no I/O, no event loop. :class:`Policy` holds the per-object rules; the checks
here are called by the object space on every request, for every path segment. A policy
is immutable, so each answer it gives about a path is remembered (a bounded number of
them): exposing an object under another policy starts from a fresh policy's answers.

The rules, in the order they are applied:

1. **Roles.** ``viewer`` may ``get`` and ``dir`` (and subscribe, which the hub allows);
   ``operator`` may also ``set`` and ``call``; ``admin`` may also ``del``. A policy can
   raise the role an op needs (``Policy(roles={"call": "admin"})``) but never lower it
   below these defaults. An unknown role may do nothing.
2. **Names.** A segment must be a non-empty printable name of at most 100 characters,
   in Unicode normal form NFKC, that does not start with ``_``: private names and
   dunders (``__class__``, ``__globals__``, ``__dict__``...) are never reachable. Python
   normalises identifiers (U+FF3F FULLWIDTH LOW LINE + ``secret`` in source *is*
   ``_secret``) but ``getattr`` and
   mapping keys do not, so a name that is not already normalised is refused rather than
   compared in two forms. Mapping keys that are private (:func:`is_private`) are also
   left out of every value sent to a browser.
3. **Depth.** A path has at most ``max_depth`` segments, the exposed name included
   (default 4: ``sample.device.laser.power``).
4. **Deny-list, allow-list.** Entries are dotted paths relative to the exposed object.
   A path under a ``deny`` entry is refused. With an ``allow`` list, a path must be at
   or under an entry; a path that only leads towards an entry (``settings`` for
   ``settings.gain``) may be walked through and listed by ``dir``, nothing more.
5. **Read-only.** ``set`` and ``del`` are refused at or under a ``read_only`` entry.
6. **Markers** on the objects themselves (see :mod:`labdeck.objects.markers`): members
   marked hidden are refused as if they did not exist.
7. **Mappings.** Plain ``dict`` values (and :class:`~labdeck.objects.TrackedDict`) may
   be walked into and read; any other mapping type only when listed in ``mappings``.
   ``os.environ`` and module namespaces never (:mod:`labdeck.objects.resolve`).

Every refusal is :class:`AccessDenied` naming the path.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from labdeck.exceptions import AccessDenied

__all__ = [
    "OP_ROLES",
    "ROLES",
    "Policy",
    "check_name",
    "dotted",
    "is_private",
    "role_allows",
]

ROLES: dict[str, int] = {"viewer": 0, "operator": 1, "admin": 2, "server": 2}
"""Known roles and their rank; ``server`` is the server's own code, as strong as admin."""

OP_ROLES: dict[str, str] = {"get": "viewer", "dir": "viewer", "set": "operator", "call": "operator", "del": "admin"}
"""The least role each object op needs."""

MAX_NAME = 100


def dotted(path: Iterable[str]) -> str:
    """``["sample", "a"]`` → ``"sample.a"``, the form used in messages and policy lists."""
    return ".".join(path)


def role_allows(role: str, op: str, extra: Mapping[str, str] | None = None) -> bool:
    """True when ``role`` may perform ``op`` (``extra`` can only raise the requirement)."""
    rank = ROLES.get(role)
    if rank is None:
        return False
    need = ROLES[OP_ROLES[op]]
    if extra and op in extra:
        need = max(need, ROLES.get(extra[op], ROLES["admin"]))
    return rank >= need


def is_private(name: str) -> bool:
    """Whether ``name`` starts with ``_``, counting look-alikes that Python normalises to
    it (U+FF3F FULLWIDTH LOW LINE, U+FE4D DASHED LOW LINE...)."""
    if name[:1] == "_":
        return True
    return not name.isascii() and unicodedata.normalize("NFKC", name[:1])[:1] == "_"


def check_name(segment: str, path: list[str]) -> None:
    """Refuse a segment that is empty, too long, unprintable, not NFKC-normal or private.

    Raises:
        AccessDenied: naming the whole path.
    """
    if not segment or len(segment) > MAX_NAME or not segment.isprintable() or "." in segment or "/" in segment:
        raise AccessDenied(f"{dotted(path)!r}: {segment[:MAX_NAME]!r} is not a usable name")
    if is_private(segment):
        raise AccessDenied(f"{dotted(path)!r}: names starting with '_' are never exposed")
    if not segment.isascii() and not unicodedata.is_normalized("NFKC", segment):
        # getattr compares code points: a look-alike would dodge deny-lists by naming what
        # the list names in another form, so only the one form Python itself uses is accepted
        raise AccessDenied(f"{dotted(path)!r}: {segment!r} is not in Unicode normal form NFKC")


def _under(path: tuple[str, ...], entries: frozenset[tuple[str, ...]]) -> bool:
    return any(path[: len(e)] == e for e in entries)


def _split(entries: Iterable[str]) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(e.split(".")) for e in entries)


@dataclass(frozen=True)
class Policy:
    """What the browser may do with one exposed object and everything under it.

    Args:
        allow: dotted paths (relative to the object) that are exposed; ``None`` exposes
            every public member.
        deny: dotted paths never exposed, whatever ``allow`` says.
        read_only: dotted paths that may be read but not set or deleted.
        max_depth: most segments in a path, the exposed name included.
        roles: raise the role an op needs, e.g. ``{"call": "admin"}``.
        docs: ``dir`` includes docstrings.
        source: ``dir`` includes the source code of methods.
        timeout: seconds a call may take before its reply is ``Timeout`` (``None``: no
            limit); a method's own ``timeout`` option overrides it.
        max_wait: seconds a call to an exclusive method waits for the one running before
            its reply is ``Busy``; a method's own ``max_wait`` option overrides it.
        mappings: mapping types beyond ``dict`` and ``TrackedDict`` that may be walked
            into and read (``collections.ChainMap``...), matched by exact type;
            ``os.environ`` is refused whatever this says.
    """

    allow: Iterable[str] | None = None
    deny: Iterable[str] = ()
    read_only: Iterable[str] = ()
    max_depth: int = 4
    roles: Mapping[str, str] = field(default_factory=dict)
    docs: bool = True
    source: bool = False
    timeout: float | None = 60.0
    max_wait: float = 10.0
    mappings: Iterable[type] = ()
    _allow: frozenset[tuple[str, ...]] | None = field(init=False, repr=False, compare=False)
    _deny: frozenset[tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _read_only: frozenset[tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _checked: dict[tuple[str, ...], None] = field(init=False, repr=False, compare=False)
    _answers: dict[tuple[str, tuple[str, ...]], bool] = field(init=False, repr=False, compare=False)
    allowed_mappings: frozenset[type] = field(init=False, repr=False, compare=False)
    """``mappings`` as a set, for the per-segment check."""

    def __post_init__(self) -> None:
        if self.max_depth < 1:
            raise ValueError("max_depth must be at least 1")
        for op, role in self.roles.items():
            if op not in OP_ROLES or role not in ROLES:
                raise ValueError(f"roles: {op!r}: {role!r} is not an op and a role")
        mappings = frozenset(self.mappings)
        for kind in mappings:
            if not isinstance(kind, type) or not issubclass(kind, Mapping):
                raise ValueError(f"mappings: {kind!r} is not a mapping type")
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "_allow", None if self.allow is None else _split(self.allow))
        set_(self, "_deny", _split(self.deny))
        set_(self, "_read_only", _split(self.read_only))
        set_(self, "allowed_mappings", mappings)
        set_(self, "_checked", {})  # paths that passed check_path: the check is pure
        set_(self, "_answers", {})  # (question, rel) -> answer: pure too, and asked on every request

    def check_role(self, role: str, op: str, path: list[str]) -> None:
        """Raises :class:`AccessDenied` unless ``role`` may perform ``op``."""
        if not role_allows(role, op, self.roles):
            raise AccessDenied(f"{dotted(path)!r}: role {role!r} may not {op}")

    def check_depth(self, path: list[str]) -> None:
        """Raises :class:`AccessDenied` for a path longer than ``max_depth``."""
        if len(path) > self.max_depth:
            raise AccessDenied(f"{dotted(path)!r}: deeper than the {self.max_depth} levels allowed")

    def need(self, op: str) -> int:
        """The least role rank (:data:`ROLES`) that may perform ``op`` under this policy."""
        need = ROLES[OP_ROLES[op]]
        if op in self.roles:
            need = max(need, ROLES.get(self.roles[op], ROLES["admin"]))
        return need

    def visible(self, rel: tuple[str, ...]) -> bool:
        """Whether ``rel`` (relative to the object) may be walked through or listed."""
        if _under(rel, self._deny):
            return False
        allow = self._allow
        return allow is None or any(rel[: len(e)] == e or e[: len(rel)] == rel for e in allow)

    def exposed(self, rel: tuple[str, ...]) -> bool:
        """Whether ``rel`` itself may be read, set, called or deleted (roles aside)."""
        answer = self._answers.get(("exposed", rel))
        if answer is None:
            allow = self._allow
            answer = not _under(rel, self._deny) and (allow is None or _under(rel, allow))
            self._remember("exposed", rel, answer)
        return answer

    def withholds_below(self, rel: tuple[str, ...]) -> bool:
        """Whether something under ``rel`` is denied, so reading ``rel`` whole would reveal it."""
        answer = self._answers.get(("withholds", rel))
        if answer is None:
            answer = any(len(e) > len(rel) and e[: len(rel)] == rel for e in self._deny)
            self._remember("withholds", rel, answer)
        return answer

    def writable(self, rel: tuple[str, ...]) -> bool:
        """Whether ``rel`` may be set or deleted (roles aside)."""
        return self.exposed(rel) and not _under(rel, self._read_only)

    def _remember(self, question: str, rel: tuple[str, ...], answer: bool) -> None:
        # Bounded like _checked: a client sending endless new paths cannot grow it.
        if len(self._answers) < 8192:
            self._answers[(question, rel)] = answer

    def check_path(self, path: list[str]) -> None:
        """Check the depth, then every segment (see :meth:`check_segment`).

        Raises:
            AccessDenied: naming the path.
        """
        key = tuple(path)
        if key in self._checked:
            return
        self.check_depth(path)
        for i in range(len(path)):
            self.check_segment(path, i)
        if len(self._checked) < 4096:
            self._checked[key] = None

    def check_segment(self, path: list[str], index: int) -> None:
        """Check the name and visibility of ``path[index]`` (index 0 is the exposed name).

        Raises:
            AccessDenied: naming the path.
        """
        check_name(path[index], path)
        if index and not self.visible(tuple(path[1 : index + 1])):
            raise AccessDenied(f"{dotted(path)!r} is not exposed")
