"""Exposing Python objects to browsers: the access policy, path resolution, calls,
the value-conversion rule and live (observed) attributes.

The user guide is ``docs/howto/expose-objects.md``.
"""

from __future__ import annotations

from labdeck.objects.convert import to_wire
from labdeck.objects.expose import Objects
from labdeck.objects.markers import CallOptions, exclusive, exposed, hidden, inline, reads
from labdeck.objects.observe import TrackedDict, observable, observed
from labdeck.objects.policy import Policy

__all__ = [
    "CallOptions",
    "Objects",
    "Policy",
    "TrackedDict",
    "exclusive",
    "exposed",
    "hidden",
    "inline",
    "observable",
    "observed",
    "reads",
    "to_wire",
]
