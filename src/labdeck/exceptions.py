"""Every error labdeck raises on purpose, in one hierarchy.

::

    LabdeckError                    wire type name, HTTP status, websocket close code
    ├── ConfigError                 a bad config file or environment variable (exit code 2)
    ├── StoreError                  the SQLite store cannot be used
    ├── RemoteError                 the peer (browser, agent, script) sent something wrong
    │   ├── BadRequest              malformed frame, missing id, wrong field types
    │   │   └── DuplicateId         a request reusing the id of one still in flight
    │   ├── TooManyInFlight         a connection past its cap of requests not answered yet
    │   ├── UnknownOp               an ``op`` the protocol does not define
    │   ├── FrameTooLarge           a frame over the size limit (close code 1009)
    │   ├── Unauthenticated         login mode, and the request carries no valid session or token
    │   ├── AccessDenied            the path or op is not allowed for this client
    │   ├── NotFound                no such object, attribute, channel, run or file
    │   ├── InvalidArguments        wrong argument count or types for a call
    │   ├── AlreadyExists           an upload would replace a file and overwriting is off
    │   ├── RigFailed               a rig answered a request with an error
    │   └── TooLarge                an upload over the size limit
    └── LocalError                  labdeck could not do what was asked
        ├── Busy                    the resource is taken (a running script, an exclusive call)
        ├── OverBudget              the server's channel or retained-bytes budget is full
        ├── BrokerUnavailable       the shared broker (Redis) is unreachable
        ├── Fenced                  a lease holder's write refused: a newer holder took over
        ├── IllegalTransition       a state machine was asked for a step its table does not allow
        ├── Timeout                 the operation did not finish in time
        ├── NotSerializable         a value JSON cannot carry
        ├── CallFailed              the exposed callable raised; carries its type and message
        ├── BenchmarkFailed         ``labdeck bench`` could not measure: a server failed, a message was lost
        ├── WatchError              a watched folder cannot be watched: gone, not a folder, a kernel limit
        ├── UnreadableFile          a landed file is not what its watch expects (not DICOM, truncated)
        └── InternalError           a bug: the detail is logged, never sent

Each class carries the ``type`` string the wire reply uses, so a browser sees
``{"type": "AccessDenied", "message": "..."}`` and never a traceback.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "BadRequest",
    "BenchmarkFailed",
    "BrokerUnavailable",
    "Busy",
    "CallFailed",
    "ConfigError",
    "DuplicateId",
    "Fenced",
    "FrameTooLarge",
    "IllegalTransition",
    "InternalError",
    "InvalidArguments",
    "LabdeckError",
    "LocalError",
    "NotFound",
    "NotSerializable",
    "OverBudget",
    "RemoteError",
    "RigFailed",
    "StoreError",
    "Timeout",
    "TooLarge",
    "TooManyInFlight",
    "Unauthenticated",
    "UnknownOp",
    "UnreadableFile",
    "WatchError",
]


class LabdeckError(Exception):
    """Base of every error labdeck raises on purpose.

    Attributes:
        wire_type: the ``error.type`` of a wire reply.
        http_status: the status of an HTTP response carrying this error.
        close_code: the websocket close code, for errors that end a connection.
        request_id: the id of the request that failed, when known.
    """

    wire_type: str = "Error"
    http_status: int = 500
    close_code: int | None = None

    def __init__(self, message: str = "", *, request_id: int | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "wire_type" not in cls.__dict__:
            cls.wire_type = cls.__name__


class ConfigError(LabdeckError):
    """The config file or an environment variable is wrong; the message names key and file."""

    http_status = 500


class StoreError(LabdeckError):
    """The SQLite store cannot be opened or used."""


class RemoteError(LabdeckError):
    """The peer sent something labdeck will not act on."""

    http_status = 400


class BadRequest(RemoteError):
    """A malformed frame: not JSON, not an object, no usable id, or a field of the wrong type."""


class DuplicateId(BadRequest):
    """A request carries the id of an earlier request of its connection that has not
    been answered yet. Its reply has ``id`` null (echoing the id would look like the
    answer to the earlier request); the message names the id."""


class TooManyInFlight(RemoteError):
    """A request arrived while its connection already had ``[server] max_in_flight``
    requests not answered yet. It is not run; its reply echoes its id, and the client
    sends it again once earlier replies have come in."""

    http_status = 429


class UnknownOp(RemoteError):
    """The request's ``op`` is not part of the protocol."""


class FrameTooLarge(RemoteError):
    """A frame over the configured size limit; the connection closes with 1009."""

    http_status = 413
    close_code = 1009


class Unauthenticated(RemoteError):
    """Login mode, and the request has no valid session cookie or API token (HTTP 401)."""

    http_status = 401


class AccessDenied(RemoteError):
    """The client may not do this, on this path."""

    http_status = 403


class NotFound(RemoteError):
    """No such object, attribute, channel, run or file."""

    http_status = 404


class InvalidArguments(RemoteError):
    """A call with the wrong number or types of arguments."""


class AlreadyExists(RemoteError):
    """A file of that name is already there and overwriting is not allowed."""

    http_status = 409


class TooLarge(RemoteError):
    """An upload over the configured size limit."""

    http_status = 413


class RigFailed(RemoteError):
    """A rig's handler failed; the message names the rig, the request and the rig's reason."""

    http_status = 502


class LocalError(LabdeckError):
    """labdeck could not do what was asked."""


class Busy(LocalError):
    """The resource is taken; the message names by whom."""

    http_status = 409


class OverBudget(LocalError):
    """A new channel would pass the server's budget of channels or retained bytes, and
    no idle channel can be dropped to make room; the message names the setting."""

    http_status = 503


class BrokerUnavailable(LocalError):
    """The shared broker (Redis) cannot be reached: at start, or for longer than the
    outage buffer lasts; the message names the address (never its password)."""

    http_status = 503


class Fenced(LocalError):
    """A write made under a lease was refused: the lease has passed to a newer holder
    (a larger fence), so this process no longer speaks for what the lease guards."""

    http_status = 409


class IllegalTransition(LocalError):
    """A state machine was asked for a step its transition table does not allow.

    The message names the state and the event, e.g. ``run state 'finished': event 'stop'
    is not allowed``.
    """

    http_status = 409


class Timeout(LocalError):
    """The operation did not finish within its time limit."""

    http_status = 504


class NotSerializable(LocalError):
    """A value that JSON cannot carry; the message names its type."""


class CallFailed(LocalError):
    """An exposed callable raised; ``wire_type`` becomes the exception's class name."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.wire_type = type(exc).__name__


class BenchmarkFailed(LocalError):
    """``labdeck bench`` could not produce a figure: a server did not start or died, a
    message was lost or arrived out of order, or a round ran past its time limit."""


class WatchError(LocalError):
    """A watched folder cannot be watched (gone, not a folder, no permission, a kernel limit);
    the watcher is restarted with backoff and says so on its channel and on ``/healthz``."""


class UnreadableFile(LocalError):
    """A landed file is not what its watch expects: not DICOM, empty, truncated, unreadable.
    It is reported on the watch's channel and the watch goes on."""


class InternalError(LocalError):
    """A bug in labdeck: logged in full on the server, reported to the peer as a bare type."""
