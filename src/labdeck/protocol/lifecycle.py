"""The life cycle of a script run, as a state machine. Pure: no I/O.

::

    idle ──start──► starting ──spawned──► running ──exited_ok───► finished
                       │                     │    └─exited_error─► failed
                       │ spawn_failed        │ stop
                       ▼                     ▼
                     failed               stopping ──exited──► stopped

    any of starting, running, stopping ──lost──► interrupted
    any of starting, running, stopping ──orphaned──► failed

A new run may start from ``idle`` or from any end state; the runner reports the state of
the latest run on ``run/status``, so after a run ends the status stays at its end state
(``finished``...) until the next one starts.
"""

from __future__ import annotations

import enum

from labdeck.exceptions import IllegalTransition

__all__ = ["END_STATES", "TRANSITIONS", "RunEvent", "RunState", "next_state"]


class RunState(enum.StrEnum):
    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"


class RunEvent(enum.StrEnum):
    START = "start"
    """A user asked for a run."""
    SPAWNED = "spawned"
    """The process exists."""
    SPAWN_FAILED = "spawn_failed"
    """The process could not be created: missing script, interpreter or permission."""
    EXITED_OK = "exited_ok"
    """The process ended by itself with exit code 0."""
    EXITED_ERROR = "exited_error"
    """The process ended by itself with another code, or by a signal nobody sent."""
    STOP = "stop"
    """A user asked the run to stop."""
    EXITED = "exited"
    """The process ended after a stop was asked, whatever its exit code."""
    LOST = "lost"
    """The server that owned the process went away (restart, or shut down mid-run)."""
    ORPHANED = "orphaned"
    """The server that owned the process crashed, and the process outlived it: the next
    server found it still running and kills it."""


END_STATES = frozenset({RunState.FINISHED, RunState.FAILED, RunState.STOPPED, RunState.INTERRUPTED})

_S, _E = RunState, RunEvent

# (state, event) -> next state. Anything missing is a bug in the caller, not a user
# error: the runner checks what a user may ask (one run at a time, stop only while a run
# is alive) before it moves the machine. A stop while still starting is allowed because
# the process may already exist; an exit during stopping always means "stopped", even
# with code 0, because the user's request is what ended it. A process that outlived its
# server is "failed", not "interrupted": it ran on unwatched, its output is lost, and it had
# to be killed, so the user must look at what it did.
TRANSITIONS: dict[tuple[RunState, RunEvent], RunState] = {
    **{(end, _E.START): _S.STARTING for end in (_S.IDLE, *END_STATES)},
    (_S.STARTING, _E.SPAWNED): _S.RUNNING,
    (_S.STARTING, _E.SPAWN_FAILED): _S.FAILED,
    (_S.STARTING, _E.STOP): _S.STOPPING,
    (_S.RUNNING, _E.EXITED_OK): _S.FINISHED,
    (_S.RUNNING, _E.EXITED_ERROR): _S.FAILED,
    (_S.RUNNING, _E.STOP): _S.STOPPING,
    (_S.STOPPING, _E.EXITED): _S.STOPPED,
    (_S.STOPPING, _E.SPAWN_FAILED): _S.FAILED,
    (_S.STOPPING, _E.SPAWNED): _S.STOPPING,
    **{(alive, _E.LOST): _S.INTERRUPTED for alive in (_S.STARTING, _S.RUNNING, _S.STOPPING)},
    **{(alive, _E.ORPHANED): _S.FAILED for alive in (_S.STARTING, _S.RUNNING, _S.STOPPING)},
}


def next_state(state: RunState, event: RunEvent) -> RunState:
    """The state after ``event`` in ``state``.

    Raises:
        IllegalTransition: the table has no such step; the message names both.
    """
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(f"run state {state.value!r}: event {event.value!r} is not allowed") from None
