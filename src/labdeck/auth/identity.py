"""Who a request acts for: the one value the web layer hands to every check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from labdeck.auth.roles import parse_role
from labdeck.exceptions import InvalidArguments

__all__ = ["VIA", "Identity"]

VIA: Final = ("open", "session", "token")
"""How an identity was established: open mode (no login), a login session, an API token."""


@dataclass(frozen=True)
class Identity:
    """The user (``None`` in open mode), their role, and how they were recognised.

    Raises:
        InvalidArguments: ``role`` is not a known role, or ``via`` is not one of :data:`VIA`.
    """

    user: str | None
    role: str
    via: str

    def __post_init__(self) -> None:
        parse_role(self.role)
        if self.via not in VIA:
            raise InvalidArguments(f"identity via {self.via!r}: must be one of {', '.join(VIA)}")
