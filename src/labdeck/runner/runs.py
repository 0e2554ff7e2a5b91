"""The runner: one script run at a time, its channels, its history.

:class:`Runner` is the object browsers reach as ``runner`` (its public methods are the
RPC contract); :class:`~labdeck.runner.capability.RunnerCapability` ties it to the server.

What a run publishes (see ``docs/howto/run-scripts.md`` for the shapes):

* ``run/status`` on every state change;
* ``run/log`` every line the script prints, stdout and stderr merged in arrival order,
  plus labdeck's own notes (stream ``labdeck``). Lines that arrive in the same turn of
  the event loop go out in one message (at most :data:`LINES_PER_MESSAGE` lines or
  :data:`BYTES_PER_MESSAGE` bytes of text), so a flood costs few messages;
* ``run/data``, ``run/progress``, ``run/result`` from the script's ``labdeck.script``;
* ``run/rigs``: each request the script sent a rig itself (``labdeck.script.rigs()``),
  which the rigs capability, listening, shows in the Rigs panel;
* ``run/clear``, ``run/notice``, ``run/feedback``: plots to clear, lines for the
  operator, the participant's feedback (see :mod:`labdeck.runner.display`).

Nothing is dropped. Every line and point is also written to the store, in batches, on
the store's thread. Memory stays bounded by back-pressure, not by dropping: when more
than :data:`MAX_UNSAVED` lines or points wait for the disk, labdeck stops reading the
script's pipes and socket, so the script blocks on its next print or plot until the
store has caught up. A run's end state is published only after everything it printed
and plotted is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import os
import secrets
import signal
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from labdeck.broker import fences
from labdeck.broker.locks import Lease, Leases, LocalLeases
from labdeck.config import Config
from labdeck.exceptions import BrokerUnavailable, Busy, Fenced, InvalidArguments, LabdeckError, NotFound, StoreError
from labdeck.objects.markers import inline, reads
from labdeck.protocol.lifecycle import END_STATES, RunEvent, RunState, next_state
from labdeck.protocol.link import Clear, Feedback, Notice, Plot, Progress, RigReport, ScriptMessage
from labdeck.runner import display, history, orphans, presets
from labdeck.runner.history import Edit, Unfinished
from labdeck.runner.link import ScriptLink
from labdeck.runner.process import DRAIN, ScriptProcess
from labdeck.runner.scripts import script_command
from labdeck.store import Store
from labdeck.types import current_client

__all__ = ["BYTES_PER_MESSAGE", "LINES_PER_MESSAGE", "MAX_UNSAVED", "POINTS_PER_MESSAGE", "RUNNER_LEASE",
           "RUNNER_METHODS", "Runner"]

log = logging.getLogger(__name__)

LINES_PER_MESSAGE = 1000
BYTES_PER_MESSAGE = 128 * 1024
MAX_UNSAVED = 20_000
POINTS_PER_MESSAGE = 10_000
"""Most points of one ``run/data`` push (~200 KB). A script's batch grows while the server
is busy (its writer keeps adding to what waits); such a batch goes out as several pushes,
so that no push outgrows a browser's send queue (``[server] send_queue_bytes``)."""
MAX_PROBLEMS = 20
"""Notes about bad messages from one script, after which they are only counted."""
SHUTDOWN_GRACE = 2.0
"""Longest grace per stop step when the server itself shuts down."""

RUNNER_METHODS = ("run", "stop", "status", "history", "scripts", "default_config", "presets", "save_preset",
                  "delete_preset", "run_info")
"""What a browser may call on ``runner``."""

Publish = Callable[[str, Any], None]
T = TypeVar("T")

RUNNER_LEASE = "runner"
"""The lease a server process holds while it runs a script: one run at a time in a deployment."""


@dataclass(eq=False)
class _Run:
    id: int
    script: str
    user: str | None
    started: float
    state: RunState = RunState.STARTING
    fence: int = 0
    """The ``runner`` lease's fence this run was started under: its state writes carry it."""
    superseded: bool = False
    """Another server process took the runner over: this one records and announces nothing more."""
    process: ScriptProcess | None = None
    link: ScriptLink | None = None
    ended: float | None = None
    exit_code: int | None = None
    error: str | None = None
    last_error: str | None = None
    n: int = 0
    problems: int = 0
    outbox: list[dict[str, Any]] = field(default_factory=list)
    unsaved_lines: list[history.Line] = field(default_factory=list)
    unsaved_points: list[history.Point] = field(default_factory=list)
    unsaved_edits: list[tuple[int, history.Edit]] = field(default_factory=list)
    """Replacements and clears, each after the first ``int`` of ``unsaved_points``."""
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # series -> unit, xlabel, chart
    unsaved_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    saved: asyncio.Event = field(default_factory=asyncio.Event)
    paused: bool = False
    closing: bool = False
    flush_pending: bool = False
    writer: asyncio.Task[None] | None = None
    supervisor: asyncio.Task[None] | None = None
    stopper: asyncio.Task[None] | None = None

    @property
    def unsaved(self) -> int:
        return len(self.unsaved_lines) + len(self.unsaved_points) + len(self.unsaved_edits)


class Runner:
    """Runs the project's scripts, one at a time.

    Args:
        config: the server's configuration (``[scripts]``, ``[run]``, the data folder).
        publish: publishes ``(channel, data)`` on the event loop.
    """

    def __init__(self, config: Config, publish: Publish) -> None:
        self.config = config
        self._publish = publish
        self._store: Store | None = None
        self._run: _Run | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._reaping = False
        """Kills the processes a crashed server left running; no run starts until it is done."""
        self._shutting_down = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._leases: Leases = LocalLeases()
        self._lease: Lease | None = None
        """The ``runner`` lease while this process runs a script (or sweeps what a dead one left)."""

    # -- life cycle -----------------------------------------------------------------

    async def open(self, store: Store, leases: Leases | None = None) -> None:
        """Start serving: find the runs a previous server left alive.

        A run whose process group is gone becomes ``interrupted``. A run whose group still
        runs becomes ``failed``, is reported on ``run/log`` and in the server log, and its
        group is killed in the background; until it is gone :meth:`run` is ``Busy``.

        ``leases`` are shared with the other server processes of a deployment: one run at
        a time among all of them. While another process holds the ``runner`` lease its
        run is its own: this process neither sweeps it nor publishes ``run/status``.
        """
        self._store = store
        if leases is not None:
            self._leases = leases
        try:
            sweep = await self._take("start-up")
        except Exception as exc:  # the shared broker is away: the next run's claim sweeps instead
            log.warning("cannot take the runner's lease at start (%s); left-over runs are looked for later", exc)
            return
        if sweep is None:
            log.info("another server process runs scripts now (%s)", await self._leases.holder(RUNNER_LEASE))
            return
        self._lease = sweep
        await self._sweep()
        if self._reaper is None:
            await self._let_go()
        self._publish("run/status", self.status())

    def _holder(self, what: str) -> str:
        return f"{what} on {socket.gethostname()} (pid {os.getpid()})"

    async def _take(self, what: str) -> Lease | None:
        """The ``runner`` lease with its fence claimed in the store; ``None`` if another holds it.

        A fence the store has already seen (the lease store's counter went back: a
        restart of the in-process leases, a Redis that lost its data) is raised past
        what the store remembers, and the lease taken again.
        """
        ttl = self.config.broker.lease_ttl
        seen = await self.store.run(lambda db: fences.stored(db, RUNNER_LEASE))
        lease = await self._leases.acquire(RUNNER_LEASE, self._holder(what), ttl)
        if lease is None:
            return None
        if lease.fence <= seen:
            await lease.release()
            await self._leases.raise_fence(RUNNER_LEASE, seen)
            lease = await self._leases.acquire(RUNNER_LEASE, self._holder(what), ttl)
            if lease is None:
                return None
        fence = lease.fence
        try:
            await self.store.run(lambda db: fences.fenced(db, RUNNER_LEASE, fence, lambda db: None))
        except BaseException as exc:
            await lease.release()
            if isinstance(exc, Fenced):  # an even newer holder claimed it meanwhile
                return None
            raise
        return lease

    async def _record(self, run: _Run, write: Callable[[sqlite3.Connection], T]) -> T:
        """Write the run's state, under its fence.

        Raises:
            Fenced: another server process took the runner over since; nothing was written.
        """
        fence = run.fence
        return await self.store.run(lambda db: fences.fenced(db, RUNNER_LEASE, fence, write))

    async def _let_go(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            await lease.release()

    async def _sweep(self) -> None:
        """Mark interrupted, or reap, the runs left unfinished by a server that is gone."""
        store = self.store
        alive = [s.value for s in RunState if s not in END_STATES and s is not RunState.IDLE]
        found = [(run, await orphans.live_members(run))
                 for run in await store.run(lambda db: history.unfinished_runs(db, alive))]
        lost = [run.id for run, members in found if not members]
        if lost:
            await store.run(lambda db: history.mark_interrupted(db, lost, alive, time.time()))
            log.warning("runs %s were alive when the previous server stopped: marked interrupted", lost)
        left = [(run, members) for run, members in found if members]
        for run, members in left:
            await self._report_orphan(run, members)
        if left:
            self._reaping = True
            self._reaper = asyncio.get_running_loop().create_task(self._reap([run for run, _ in left]))

    async def close(self) -> None:
        """Stop a live run (short grace periods) and record it as ``interrupted``.

        Killing what a previous server left is abandoned; its record stays, so the next
        server takes it up again.
        """
        self._shutting_down = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        run = self._run
        if run is not None and run.supervisor is not None:
            if run.process is not None and not run.process.exited:
                grace = self.config.run
                await run.process.stop(min(grace.grace_int, SHUTDOWN_GRACE), min(grace.grace_term, SHUTDOWN_GRACE))
            await run.supervisor
        await self._let_go()

    @property
    def store(self) -> Store:
        if self._store is None:
            raise StoreError("the runner is not started")
        return self._store

    # -- the RPC contract -----------------------------------------------------------

    async def run(self, name: str, config: dict[str, Any] | None = None) -> int:
        """Start script ``name`` with ``config`` (the project default when ``None``); the run id.

        Returns once the process exists (or failed to start); follow ``run/status``. The
        run records who asked: the requesting client's user name, else its address.

        Raises:
            Busy: a run is alive; the message names it.
            NotFound: no such script.
            InvalidArguments: ``config`` is not a JSON object.
        """
        client = current_client.get()
        who = (client.user or client.peer or None) if client is not None else None
        return await self.start_run(name, config, who)

    async def start_run(self, name: str, config: dict[str, Any] | None, user: str | None) -> int:
        """:meth:`run`, recording ``user`` as who started it."""
        if self._reaping:
            raise Busy("a script the previous server left running is being killed; try again in a moment")
        current = self._run
        if current is not None and current.state not in END_STATES:
            raise Busy(f"run {current.id} of script {current.script!r} is {current.state.value}; stop it first")
        command = script_command(self.config, name)
        cfg = presets.check_config(self.default_config() if config is None else config)
        started = time.time()
        state = next_state(current.state if current else RunState.IDLE, RunEvent.START)
        placeholder = _Run(0, name, user, started, state)
        self._run = placeholder  # claimed before the first await: a second call is Busy
        try:
            placeholder.fence = await self._claim(name)
        except BaseException:
            self._run = current
            raise
        try:
            run_id = await self._record(
                placeholder, lambda db: history.create_run(db, name, command.argv, user, cfg, state.value))
        except BaseException as exc:
            self._run = current
            await self._let_go()
            if isinstance(exc, Fenced):  # Fenced is no wire error: to the caller it is a taken runner
                raise Busy("another server process took the one-run lock meanwhile; try again") from None
            raise
        run = placeholder
        run.id = run_id
        run.writer = asyncio.get_running_loop().create_task(self._write(run))
        self._publish_status()
        problem = None if command.missing is None else f"script file not found: {command.missing}"
        if problem is None:
            problem = await self._spawn(run, command.argv, str(command.cwd), cfg)
        if problem is not None:
            self._line(run, "labdeck", problem)
            run.last_error = problem
            await self._end(run, RunEvent.SPAWN_FAILED, None)
        return run_id

    async def _claim(self, name: str) -> int:
        """Take the ``runner`` lease for a run of ``name``, first sweeping what a server
        process that died (or stalled past the lease's expiry) while running left
        unfinished; the lease's fence.

        Raises:
            Busy: another server process runs a script, or its leftovers are being killed.
            BrokerUnavailable: the shared broker holding the lock does not answer.
        """
        try:
            lease = await self._take(f"script {name!r}")
        except LabdeckError:
            raise
        except Exception as exc:
            raise BrokerUnavailable(f"cannot take the one-run lock from the shared broker: {exc}") from None
        if lease is None:
            holder = await self._leases.holder(RUNNER_LEASE) or "another server process"
            raise Busy(f"a script is running elsewhere: {holder}; stop it there first")
        self._lease = lease
        lease.on_signal = self._signalled
        lease.on_lost = self._lease_lost
        await self._sweep()
        if self._reaping:
            raise Busy("a script the previous server left running is being killed; try again in a moment")
        return lease.fence

    def _lease_lost(self) -> None:
        """The ``runner`` lease expired under the live run: another process may run scripts
        now, so this one stops its own (whether it may still record the end, the fence decides)."""
        run = self._run
        if run is None or run.state in END_STATES or isinstance(self._leases, LocalLeases):
            return  # in-process leases: a stall past the ttl hands the run to nobody
        self._line(run, "labdeck", "this server process lost the one-run lock (it stalled, or could not reach "
                                   "the broker, for longer than [broker] lease_ttl): stopping the script")
        if run.state in (RunState.STARTING, RunState.RUNNING):
            self._move(run, RunEvent.STOP)
        if run.process is not None and run.stopper is None:
            self._begin_stop(run)

    def _superseded(self, run: _Run) -> None:
        """A write of ``run`` was fenced off: stop its script, announce nothing more about it."""
        if run.superseded:
            return
        run.superseded = True
        log.error("run %d: another server process took the one-run lock over (a newer fence than %d); "
                  "this process no longer records or announces the run", run.id, run.fence)
        if run.process is not None and not run.process.exited and run.stopper is None:
            self._begin_stop(run)

    def _signalled(self, word: str) -> None:
        """Another server process asked for ``word`` (``"stop"``) through the runner's lease."""
        if word == "stop":
            task = asyncio.get_running_loop().create_task(self.stop())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop the live run: SIGINT, SIGTERM, SIGKILL with the configured grace periods.

        Returns at once; ``run/status`` shows ``stopping``, then ``stopped``. A run in
        another server process of the deployment is asked to stop through its lease (it
        stops within about a second). Without a live run anywhere, does nothing.
        """
        run = self._run
        if run is None or run.state not in (RunState.STARTING, RunState.RUNNING):
            if self._lease is None and await self._leases.signal(RUNNER_LEASE, "stop"):
                log.info("asked %s to stop its run", await self._leases.holder(RUNNER_LEASE))
            return
        self._move(run, RunEvent.STOP)
        if run.process is not None:
            self._begin_stop(run)

    @reads
    @inline
    def status(self) -> dict[str, Any]:
        """The latest run's status, as published on ``run/status``."""
        run = self._run
        if run is None:
            return {"state": "idle", "run": None, "script": None, "started": None, "ended": None,
                    "exit_code": None, "error": None, "user": None}
        return {"state": run.state.value, "run": run.id, "script": run.script, "started": run.started,
                "ended": run.ended, "exit_code": run.exit_code, "error": run.error, "user": run.user}

    @reads
    async def history(self, limit: int = 50, offset: int = 0, *, script: str | None = None,
                      state: str | None = None, user: str | None = None, since: float | None = None,
                      until: float | None = None) -> dict[str, Any]:
        """Runs newest first: ``{"runs": [...], "total": n, "scripts": [...], "users": [...]}``.

        ``script``, ``state``, ``user`` and the start time (``since`` inclusive, ``until``
        exclusive, epoch seconds) narrow the list; ``total`` counts what they let through,
        ``scripts`` and ``users`` are those of the whole history.

        Raises:
            InvalidArguments: a paging value or a filter of the wrong kind.
        """
        _check_paging(limit, offset)
        only = _run_filter(script, state, user, since, until)
        return await self.store.run(lambda db: history.list_runs(db, limit, offset, only))

    @reads
    @inline
    def scripts(self) -> list[dict[str, str]]:
        """The configured scripts: ``[{"name", "command"}]``."""
        return [{"name": name, "command": script_command(self.config, name).shown} for name in self.config.scripts]

    @reads
    @inline
    def default_config(self) -> dict[str, Any]:
        """The project's default script configuration (``[run] default_config``), or ``{}``."""
        path = self.config.run.default_config
        return presets.load_default(self.config.resolve(path) if path else None)

    @reads
    async def presets(self) -> dict[str, dict[str, Any]]:
        """Saved configurations by name."""
        return await self.store.run(presets.load_presets)

    async def save_preset(self, name: str, config: dict[str, Any]) -> None:
        """Save (or replace) a named configuration."""
        presets.check_preset_name(name)
        presets.check_config(config)
        await self.store.run(lambda db: presets.save_preset(db, name, config))

    async def delete_preset(self, name: str) -> None:
        """Raises :class:`NotFound` if there is no such preset."""
        await self.store.run(lambda db: presets.delete_preset(db, name))

    @reads
    async def run_info(self, run_id: int) -> dict[str, Any]:
        """The run's row, command, config, results and series names.

        Raises:
            NotFound: no such run.
        """
        info = await self.store.run(lambda db: history.run_info(db, run_id))
        if info is None:
            raise NotFound(f"no run {run_id}")
        return info

    # -- beyond the RPC contract (Python and REST) -----------------------------------

    async def wait(self) -> dict[str, Any]:
        """Wait until the current run (if any) has ended, and what a previous server left
        running is gone; the final status."""
        if self._reaper is not None:
            await asyncio.wait([self._reaper])  # never raises, even for a reaper cancelled by close()
        run = self._run
        if run is not None and run.supervisor is not None:
            await asyncio.shield(run.supervisor)
        return self.status()

    async def delete_run(self, run_id: int) -> None:
        """Delete a finished run and all it left. Raises :class:`Busy` for the live run."""
        self._check_not_live(run_id)
        if not await self.store.run(lambda db: history.delete_run(db, run_id)):
            raise NotFound(f"no run {run_id}")

    async def prune(self, keep: int) -> list[int]:
        """Delete all but the newest ``keep`` runs (never the live one); the ids deleted."""
        if not isinstance(keep, int) or keep < 0:
            raise InvalidArguments("keep is a count of runs, 0 or more")
        run = self._run
        live = run.id if run is not None and run.state not in END_STATES else None
        return await self.store.run(lambda db: history.prune_runs(db, keep, live))

    def _check_not_live(self, run_id: int) -> None:
        run = self._run
        if run is not None and run.id == run_id and run.state not in END_STATES:
            raise Busy(f"run {run_id} is {run.state.value}; stop it before deleting it")

    # -- one run --------------------------------------------------------------------

    async def _spawn(self, run: _Run, argv: list[str], cwd: str, cfg: dict[str, Any]) -> str | None:
        """Start the process; a sentence saying why it could not, or ``None``."""
        folder = self.config.data_dir / "runs" / str(run.id)
        config_file = folder / "config.json"
        token = secrets.token_urlsafe(24)
        run.link = ScriptLink(token, lambda msg: self._message(run, msg), lambda text: self._problem(run, text))
        try:
            await asyncio.to_thread(_write_json, config_file, cfg)
            url = await run.link.open()
        except OSError as exc:
            return f"cannot prepare the run: {exc}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "LABDECK_RUN_ID": str(run.id), "LABDECK_RUN_URL": url,
               "LABDECK_RUN_TOKEN": token, "LABDECK_RUN_CONFIG": str(config_file), "LABDECK_RUN_DIR": str(folder)}
        run.process = ScriptProcess(argv, cwd, env, lambda stream, text: self._line(run, stream, text))
        try:
            await run.process.start()
        except OSError as exc:
            return f"cannot start {argv[0]}: {exc.strerror or exc}"
        pid, mark = run.process.pid, run.process.start_mark
        assert pid is not None
        try:  # recorded before anything else happens, so a crash from here on leaves a trace
            await self._record(run, lambda db: history.set_process(db, run.id, pid, pid, mark))
        except Fenced:
            self._superseded(run)
        except Exception:  # the process exists: it must be supervised whatever the store says
            log.exception("run %d: its process could not be recorded; a crash would leave it unnoticed", run.id)
        self._move(run, RunEvent.SPAWNED)
        self._line(run, "labdeck", f"started {run.script} (pid {run.process.pid}) in {cwd}")
        if run.state is RunState.STOPPING:  # a stop arrived while the process was being created
            self._begin_stop(run)
        run.supervisor = asyncio.get_running_loop().create_task(self._supervise(run))
        return None

    async def _supervise(self, run: _Run) -> None:
        assert run.process is not None and run.link is not None
        code = await run.process.wait()
        await run.link.close(DRAIN)
        if self._shutting_down:
            event = RunEvent.LOST
            self._line(run, "labdeck", "the server shut down during the run")
        elif run.state is RunState.STOPPING:
            event = RunEvent.EXITED
        else:
            event = RunEvent.EXITED_OK if code == 0 else RunEvent.EXITED_ERROR
        await self._end(run, event, code)

    async def _end(self, run: _Run, event: RunEvent, code: int | None) -> None:
        """Record the end: every line and point on disk first, then the row, then the status."""
        if run.link is not None:  # already closed unless the process never started
            await run.link.close(0)
        run.exit_code = code
        if event is RunEvent.EXITED_ERROR or event is RunEvent.SPAWN_FAILED:
            run.error = run.last_error or _exit_words(code)
        elif event is RunEvent.LOST:
            run.error = "the server stopped while the run was alive"
        if code is not None:
            self._line(run, "labdeck", f"{run.script} ended: {_exit_words(code)}")
        self._flush_out(run)
        run.closing = True
        run.wake.set()
        if run.writer is not None:
            await run.writer
        run.ended = time.time()
        run.state = next_state(run.state, event)
        ended, state, error = run.ended, run.state.value, run.error
        try:
            await self._record(run, lambda db: history.finish_run(db, run.id, state, ended, code, error))
        except Fenced:
            self._superseded(run)
        await self._let_go()
        if run.superseded:
            if self._run is run:
                self._run = None
            return
        self._publish_status()

    def _move(self, run: _Run, event: RunEvent) -> None:
        """Step ``run`` by ``event``; ``run/status`` follows once the store has it."""
        run.state = next_state(run.state, event)
        if self._store is None or not run.id:
            self._publish_status()
            return
        task = asyncio.get_running_loop().create_task(self._record_state(run, run.state.value, self.status()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record_state(self, run: _Run, state: str, status: dict[str, Any]) -> None:
        try:
            await self._record(run, lambda db: history.set_state(db, run.id, state))
        except Fenced:
            self._superseded(run)
        except Exception:
            log.exception("run %d: its state %s could not be stored", run.id, state)
        if not run.superseded:
            self._publish("run/status", status)

    def _begin_stop(self, run: _Run) -> None:
        assert run.process is not None
        grace = self.config.run
        run.stopper = asyncio.get_running_loop().create_task(run.process.stop(grace.grace_int, grace.grace_term))

    # -- what a previous server left running -------------------------------------------

    async def _report_orphan(self, run: Unfinished, members: list[int]) -> None:
        """Record the run as failed, say so on ``run/log`` and in the log, show it as the latest run."""
        state = RunState(run.state)
        if state not in END_STATES:
            state = next_state(state, RunEvent.ORPHANED)
        now, error = time.time(), orphans.ORPHAN_ERROR
        await self.store.run(lambda db: history.mark_orphaned(db, run.id, state.value, now, error))
        count = "1 process" if len(members) == 1 else f"{len(members)} processes"
        await self._note(run.id, f"process group {run.pgid} of this run ({count}) outlived the previous server; "
                                 f"killing it (SIGTERM, then SIGKILL after {self.config.run.grace_term:g} s)")
        if self._run is None or self._run.id < run.id:
            self._run = _Run(run.id, run.script, run.user, run.started, state, ended=now, error=error)

    async def _reap(self, left: list[Unfinished]) -> None:
        try:
            for i, run in enumerate(left):
                await orphans.kill_group(run, self.config.run.grace_term)
                await self.store.run(functools.partial(history.clear_process, run=run.id))
                if i == len(left) - 1:
                    await self._reaped()  # before the note: once it is said, a run may start
                await self._note(run.id, f"process group {run.pgid} is gone")
        except Exception:  # the runner must not stay Busy for ever; the record stays for the next server
            log.exception("killing the processes a previous server left running failed")
        finally:
            await self._reaped()

    async def _reaped(self) -> None:
        """Nothing a previous server left is being killed any more: runs may start."""
        if not self._reaping:
            return
        self._reaping = False
        if self._run is None or self._run.state in END_STATES:
            await self._let_go()

    async def _note(self, run: int, text: str) -> None:
        """A ``labdeck`` line for a run that has no live :class:`_Run`: stored, published, logged."""
        log.warning("run %d: %s", run, text)
        t = time.time()
        n = await self.store.run(lambda db: history.add_note(db, run, t, text))
        self._publish("run/log", {"run": run, "lines": [{"n": n, "t": t, "stream": "labdeck", "text": text}]})

    def _publish_status(self) -> None:
        self._publish("run/status", self.status())

    # -- lines, points, messages ------------------------------------------------------

    def _line(self, run: _Run, stream: str, text: str) -> None:
        run.n += 1
        t = time.time()
        run.outbox.append({"n": run.n, "t": t, "stream": stream, "text": text})
        run.unsaved_lines.append((run.n, t, stream, text))
        if stream == "stderr" and text.strip():
            run.last_error = text[:1000]
        if not run.flush_pending:
            run.flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush_out, run)
        run.wake.set()
        if run.unsaved > MAX_UNSAVED and run.process is not None and not run.paused:
            run.paused = True
            run.process.pause_reading()

    def _flush_out(self, run: _Run) -> None:
        """Publish the lines waiting in the outbox, in as few messages as the bounds allow."""
        run.flush_pending = False
        lines, run.outbox = run.outbox, []
        batch: list[dict[str, Any]] = []
        size = 0
        for line in lines:
            if batch and (len(batch) >= LINES_PER_MESSAGE or size + len(line["text"]) > BYTES_PER_MESSAGE):
                self._publish("run/log", {"run": run.id, "lines": batch})
                batch, size = [], 0
            batch.append(line)
            size += len(line["text"])
        if batch:
            self._publish("run/log", {"run": run.id, "lines": batch})

    async def _message(self, run: _Run, msg: ScriptMessage) -> None:
        """Act on a message the link has already checked (see :mod:`labdeck.protocol.link`)."""
        if isinstance(msg, Plot):
            self._plot(run, msg)
        elif isinstance(msg, Progress):
            self._publish("run/progress", {"run": run.id, "fraction": min(max(msg.fraction, 0.0), 1.0),
                                           "message": msg.message})
        elif isinstance(msg, RigReport):  # the rigs capability shows it in the Rigs panel
            self._publish("run/rigs", {"run": run.id, "rig": msg.rig, "event": msg.event.value,
                                       "outcome": msg.outcome, "rtt_ms": msg.rtt_ms, "data": msg.data,
                                       "error": msg.error})
        elif isinstance(msg, Clear):
            self._edit(run, history.ClearPoints(msg.series))
            self._publish(*display.publication(run.id, msg))
        elif isinstance(msg, Notice | Feedback):
            self._publish(*display.publication(run.id, msg))
        else:
            key, value = msg.key, msg.value
            await self.store.run(lambda db: history.set_result(db, run.id, key, value))
            self._publish("run/result", {"run": run.id, "key": key, "value": value})
        while run.unsaved > MAX_UNSAVED:  # let the store catch up before reading more
            run.saved.clear()
            run.wake.set()
            await run.saved.wait()

    def _plot(self, run: _Run, msg: Plot) -> None:
        series, xs, ys = msg.series, msg.x, msg.y
        pts = list(zip([series] * len(xs), xs, ys, strict=True))
        if msg.replace:
            self._edit(run, history.ReplacePoints(pts))
        else:
            run.unsaved_points.extend(pts)
        labels = {"unit": msg.unit, "xlabel": msg.xlabel, "chart": msg.chart}
        if any(labels.values()) and run.labels.get(series) != labels:
            run.labels[series] = labels
            run.unsaved_labels[series] = labels
        run.wake.set()
        n = POINTS_PER_MESSAGE
        parts = [(xs, ys)] if len(xs) <= n else [(xs[i:i + n], ys[i:i + n]) for i in range(0, len(xs), n)]
        for part_x, part_y in parts:  # the usual batch goes as it came, without a copy
            data: dict[str, Any] = {"run": run.id, "series": series, "x": part_x, "y": part_y}
            if msg.replace:
                data["replace"] = True
            if any(labels.values()):
                data.update(labels)
            self._publish("run/data", data)

    @staticmethod
    def _edit(run: _Run, edit: Edit) -> None:
        """Store ``edit`` after the points before it, so that the store ends as the browsers do."""
        run.unsaved_edits.append((len(run.unsaved_points), edit))
        run.wake.set()

    def _problem(self, run: _Run, text: str) -> None:
        run.problems += 1
        if run.problems <= MAX_PROBLEMS:
            self._line(run, "labdeck", text)
        elif run.problems == MAX_PROBLEMS + 1:
            self._line(run, "labdeck", "more bad messages from the script; no longer reporting them")

    async def _write(self, run: _Run) -> None:
        """The run's store writer: batches of lines and points, each in one transaction."""
        while True:
            await run.wake.wait()
            run.wake.clear()
            while run.unsaved_lines or run.unsaved_points or run.unsaved_labels or run.unsaved_edits:
                lines, run.unsaved_lines = run.unsaved_lines, []
                pts, run.unsaved_points = run.unsaved_points, []
                edits, run.unsaved_edits = run.unsaved_edits, []
                labels, run.unsaved_labels = run.unsaved_labels, {}
                try:
                    await self.store.run(functools.partial(_save, run=run.id, lines=lines, pts=pts, edits=edits,
                                                           labels=labels))
                except Exception:
                    log.exception("run %d: %d lines and %d points could not be stored", run.id, len(lines), len(pts))
                run.saved.set()
                if run.paused and run.unsaved < MAX_UNSAVED // 2 and run.process is not None:
                    run.paused = False
                    run.process.resume_reading()
            if run.closing:
                return


def _save(db: sqlite3.Connection, *, run: int, lines: list[history.Line], pts: list[history.Point],
          edits: list[tuple[int, history.Edit]], labels: dict[str, dict[str, str]]) -> None:
    if lines:
        history.insert_lines(db, run, lines)
    done = 0
    for before, edit in edits:
        if before > done:
            history.insert_points(db, run, pts[done:before])
            done = before
        history.apply_edit(db, run, edit)
    if len(pts) > done:
        history.insert_points(db, run, pts[done:])
    for series, found in labels.items():
        history.set_labels(db, run, series, found)


def _run_filter(script: Any, state: Any, user: Any, since: Any, until: Any) -> history.RunFilter:
    for name, value in (("script", script), ("user", user)):
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 200):
            raise InvalidArguments(f"{name} is a name of 1 to 200 characters")
    if state is not None and state not in {s.value for s in RunState}:
        raise InvalidArguments(f"state is one of {', '.join(s.value for s in RunState)}")
    for name, value in (("since", since), ("until", until)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise InvalidArguments(f"{name} is a time in epoch seconds")
    return history.RunFilter(script, state, user, since, until)


def _check_paging(limit: Any, offset: Any) -> None:
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidArguments("limit is a count from 1 to 1000")
    if not isinstance(offset, int) or offset < 0:
        raise InvalidArguments("offset is 0 or more")


def _exit_words(code: int | None) -> str:
    if code is None:
        return "did not start"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _write_json(path: Any, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
