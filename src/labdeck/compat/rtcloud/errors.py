"""The errors rt-cloud's interfaces raise, under their names, in labdeck's hierarchy.

They are raised in the script's own process; should one ever travel, it does so as the
labdeck error it derives from (``wire_type``), the wire's set of types staying closed.
"""

from __future__ import annotations

from labdeck.exceptions import AccessDenied, IllegalTransition, InvalidArguments

__all__ = ["InvocationError", "RequestError", "StateError", "ValidationError"]


class ValidationError(AccessDenied):
    """A path outside the allowed folders, or a file type not allowed."""

    wire_type = "AccessDenied"


class RequestError(InvalidArguments):
    """A request that cannot be honoured as asked (a relative path, a run id under 1)."""

    wire_type = "InvalidArguments"


class InvocationError(InvalidArguments):
    """A call with arguments of the wrong shape (a stream pattern without ``{TR}``)."""

    wire_type = "InvalidArguments"


class StateError(IllegalTransition):
    """A call out of order (``watchFile`` before ``initWatch``)."""

    wire_type = "IllegalTransition"
