"""The three roles, ordered: ``viewer`` < ``operator`` < ``admin``.

A viewer watches (channels, logs, plots, QA results); an operator also acts (runs and stops
scripts, drives rigs, sets and calls exposed objects); an admin also manages users, tokens
and the server. Each role can do everything the roles below it can.
"""

from __future__ import annotations

from labdeck.exceptions import InvalidArguments
from labdeck.types import ROLES

__all__ = ["ROLES", "parse_role", "role_at_least"]



def parse_role(text: str) -> str:
    """The role named by ``text`` (case and surrounding blanks ignored).

    Raises:
        InvalidArguments: not one of :data:`ROLES`; the message lists them.
    """
    role = text.strip().lower()
    if role not in ROLES:
        raise InvalidArguments(f"unknown role {text!r}: must be one of {', '.join(ROLES)}")
    return role


def role_at_least(have: str, need: str) -> bool:
    """Whether role ``have`` may do what role ``need`` may.

    Raises:
        InvalidArguments: either is not a known role (a typo must never grant or deny silently).
    """
    return ROLES.index(parse_role(have)) >= ROLES.index(parse_role(need))
