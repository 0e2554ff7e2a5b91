"""Types shared across labdeck's folders: who is on the other end of a request.

Objects, the runner, the web layer and capabilities import these from here, never from
the hub that happens to create them.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ROLES", "Client", "Publish", "Role", "current_client", "has_role"]

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
"""The roles, least privileged first: each may do what the ones before it may."""



def has_role(have: str, need: str) -> bool:
    """Whether a client of role ``have`` may do what needs ``need``; unknown roles may nothing."""
    try:
        return ROLES.index(have) >= ROLES.index(need)
    except ValueError:
        return False


Publish = Callable[[str, Any], None]
"""Publishes ``(channel, data)``; the deck's is safe from any thread."""


@dataclass
class Client:
    """Who is on the other end of a connection or request, for access decisions.

    Attributes:
        role: what the client may do (one of :data:`ROLES`; ``""`` may do nothing).
        user: the user name (a token's name for a token), ``None`` in open mode.
        peer: the address the client came from.
        via: how it was recognised: ``"open"`` (open mode), ``"session"``, ``"token"``,
            or ``"anonymous"`` (login mode, not logged in).
        session: the digest-free session id of a logged-in browser, to end its
            connections when the session ends; never sent anywhere.
    """

    role: str = "admin"
    user: str | None = None
    peer: str = ""
    via: str = "open"
    session: str | None = None


current_client: contextvars.ContextVar[Client | None] = contextvars.ContextVar("labdeck_client", default=None)
"""The client whose request is being answered, for code an object request runs (who
started a run, say); ``None`` outside a request."""
