"""Call plans: what the full checks of a ``call`` established, kept for the next call.

The first call of a path is checked in full (the role, every segment's name, the depth,
the allow and deny lists, hidden markers, what may be walked, the method's options and
signature; see :mod:`labdeck.objects.resolve`). What of that depends only on the path,
the policy, the types walked through and the function found is kept as a
:class:`CallPlan`. A later call of the same path still reads every segment afresh
(values change) but, instead of checking each again, compares: the plan is used only
while

* the same entry (object and policy) is exposed under the name: exposing again, or
  under a new policy, leaves the plan unused;
* every object along the path has exactly the type it had (a segment's hidden marker,
  whether it is read as an attribute or a key, whether it may be walked, all hang on
  the type), and a plain ``dict`` along it is still not a namespace;
* the last segment names the same function, still with the markers it had (its
  signature is the function's own).

Otherwise the call takes the full checks again, which answer it (or refuse it) and
leave a new plan. A call needs no allocation per segment on the planned path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from labdeck.objects.markers import HIDDEN_ATTR, CallOptions, call_options
from labdeck.objects.policy import Policy
from labdeck.objects.resolve import MISSING, forbidden

__all__ = ["MAX_PLANS", "CallPlan", "walk"]

MAX_PLANS = 4096
"""Plans kept per object space; past that many paths the cache starts over."""


@dataclass(frozen=True, slots=True)
class CallPlan:
    """What a call of one path established.

    Attributes:
        entry: the exposed entry the path starts at (compared by identity).
        policy: the entry's policy when the plan was made (compared by identity).
        types: the type of each object a segment is read from, the exposed object's first.
        keyed: for each of those, whether the segment is a mapping key (else an attribute).
        func: the function the last segment named (a bound method's ``__func__``).
        need: the least role rank that may make this call.
        label: the dotted path, for messages and logs.
        options: the method's call options.
        inline: runs on the event loop, now (``@inline``, neither async nor exclusive).
        threaded: runs on a worker thread (plain, neither async nor exclusive).
        timeout: the method's timeout, else the policy's.
        finish: turns the method's result into what the reply carries.
    """

    entry: Any
    policy: Policy
    types: tuple[type, ...]
    keyed: tuple[bool, ...]
    func: Any
    need: int
    label: str
    options: CallOptions
    inline: bool
    threaded: bool
    timeout: float | None
    finish: Callable[[Any], Any]


def walk(plan: CallPlan, root: Any, path: list[str]) -> Any:
    """The callable ``path`` names now if ``plan`` still holds for it, else ``None``.

    ``None`` also stands for anything unusual on the way (a missing member, a property
    that raised): the full checks then run and report it.
    """
    value: Any = root
    types, keyed = plan.types, plan.keyed
    for i in range(1, len(path)):
        if type(value) is not types[i - 1]:
            return None
        if keyed[i - 1]:
            if forbidden(value) is not None:  # a dict that became a namespace meanwhile
                return None
            value = cast(Mapping[str, Any], value).get(path[i], MISSING)
            if value is MISSING:
                return None
        else:
            try:
                value = getattr(value, path[i])
            except Exception:
                return None
    func = getattr(value, "__func__", value)
    # A marker applied since (hidden(fn), inline(fn)...) changes the function in place.
    if func is not plan.func or getattr(func, HIDDEN_ATTR, False) is True or call_options(func) is not plan.options:
        return None
    return value
