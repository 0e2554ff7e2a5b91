"""Scripts die with the server, and what outlives a crashed server is killed by the next one.

Real servers (``labdeck serve`` as a process, killed with SIGKILL), real scripts, real
process groups; the store is the SQLite file the servers share.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labdeck.runner import proc
from labdeck.runner.orphans import ORPHAN_ERROR
from labdeck.store import Store
from tests.conftest import READS_THE_SQLITE_FILE
from tests.helpers import RequestFailed, WireClient, runner_of, scaled, until
from tests.runner.conftest import Project, connect, log_lines

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal and /proc are Linux's")

QUIET = """\
import os, pathlib, time
pathlib.Path(__file__).with_name("quiet.pid").write_text(str(os.getpid()))
time.sleep(600)
"""

# The script dies with the server; the child it starts does not (the parent-death signal
# is not inherited), and it shrugs off SIGTERM, so the next server must escalate.
SPAWNER = """\
import os, pathlib, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
pathlib.Path(__file__).with_name("spawner.pid").write_text(f"{os.getpid()} {child.pid}")
time.sleep(600)
"""


def running(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie nobody reaped (the killed server's child) does not."""
    stat = proc.read_stat(pid)
    return stat is not None and stat.running


def pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@contextlib.asynccontextmanager
async def serve(toml: Path, log: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``labdeck serve`` as a process of its own; yields it and its URL. Its log goes to ``log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_")}
    with log.open("w") as err:
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "labdeck", "serve", "--config", str(toml), "--port", "0",
            cwd=toml.parent, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        found: list[str] = []

        def listening() -> bool:
            found[:] = re.findall(r"labdeck serving (http://\S+)", log.read_text())
            return bool(found) or server.returncode is not None

        await until(listening, 30, "the server to listen")
        assert found, log.read_text()
        yield server, found[0]
    finally:
        if server.returncode is None:
            server.kill()
        await asyncio.wait_for(server.wait(), scaled(10))


async def call(url: str, method: str, *args: Any) -> Any:
    async with WireClient(url.replace("http://", "ws://") + "ws") as client:
        return await client.request("call", path=["runner", method], args=list(args))


async def kill_server(server: asyncio.subprocess.Process) -> None:
    server.send_signal(signal.SIGKILL)
    await asyncio.wait_for(server.wait(), scaled(10))


@pytest.fixture
def survivors() -> Iterator[list[int]]:
    """Pids a test may leave running when it fails; killed at the end whatever happens."""
    left: list[int] = []
    yield left
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def test_a_silent_script_dies_when_the_server_is_killed(project: Project, tmp_path: Path,
                                                              survivors: list[int]) -> None:
    toml = project(scripts={"quiet": QUIET})
    async with serve(toml, tmp_path / "server.log") as (server, url):
        await call(url, "run", "quiet")
        await until(lambda: pids(toml.with_name("quiet.pid")), what="the script to start")
        [script] = pids(toml.with_name("quiet.pid"))
        survivors.append(script)
        assert running(script)
        await kill_server(server)
        await until(lambda: not running(script), 5, "the script to die with its server")


async def test_the_next_server_kills_what_a_killed_one_left_and_never_overlaps(
        project: Project, tmp_path: Path, survivors: list[int]) -> None:
    toml = project(scripts={"spawner": SPAWNER, "quiet": QUIET}, run={"grace_term": scaled(3.0)})
    async with serve(toml, tmp_path / "first.log") as (server, url):
        run = await call(url, "run", "spawner")
        await until(lambda: len(pids(toml.with_name("spawner.pid"))) == 2, what="the script and its child")
        script, child = pids(toml.with_name("spawner.pid"))
        survivors.extend([script, child])
        await kill_server(server)
        await until(lambda: not running(script), 5, "the script to die with its server")
        assert running(child)

    log = tmp_path / "second.log"
    async with serve(toml, log) as (server, url):
        with pytest.raises(RequestFailed) as refused:  # the child ignores SIGTERM: 3 s of grace
            await call(url, "run", "quiet")
        assert refused.value.type == "Busy" and "previous server left running" in refused.value.message
        assert running(child)
        status = await call(url, "status")
        assert (status["run"], status["state"], status["error"]) == (run, "failed", ORPHAN_ERROR)
        await until(lambda: not running(child), 10, "the left-over child to be killed")
        await until(lambda: "is gone" in log.read_text(), 5, "the server to see the group gone")
        new = await call(url, "run", "quiet")
        assert new == run + 1
        await until(lambda: pids(toml.with_name("quiet.pid")), what="the new run to start")
        survivors.extend(pids(toml.with_name("quiet.pid")))
        info = await call(url, "run_info", run)
        assert (info["state"], info["error"]) == ("failed", ORPHAN_ERROR)
    assert f"run {run}: process group {script} of this run (1 process) outlived the previous server" in log.read_text()
    with sqlite3.connect(toml.with_name("labdeck-data") / "labdeck.sqlite") as db:  # the default data folder
        texts = [t for (t,) in db.execute("SELECT text FROM run_log WHERE run = ? ORDER BY n", (run,))]
    assert texts[-2].startswith(f"process group {script} of this run (1 process) outlived the previous server")
    assert texts[-1] == f"process group {script} is gone"


def leave_row(db_path: Path, pgid: int, mark: str | None) -> int:
    """What a crashed server leaves: a running run whose process group is ``pgid``."""
    store = Store(db_path)
    try:
        return store.run_sync(lambda db: int(db.execute(
            "INSERT INTO runs (script, command, state, started, pid, pgid, process_start) "
            "VALUES ('main', '[]', 'running', 1.0, ?, ?, ?)", (pgid, pgid, mark)).lastrowid or 0))
    finally:
        store.close()


def sleeper() -> subprocess.Popen[bytes]:
    """A process leading a group of its own, as a run's script does."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)


@READS_THE_SQLITE_FILE
async def test_a_recorded_group_still_running_is_reported_and_killed(
        project: Project, start_deck: Callable[..., Any], tmp_path: Path) -> None:
    left = sleeper()
    try:
        await until(lambda: proc.start_mark(left.pid) is not None)
        run = leave_row(tmp_path / "data" / "labdeck.sqlite", left.pid, proc.start_mark(left.pid))
        async with start_deck(project(scripts={"main": QUIET})) as deck:
            client = await connect(deck, "run/status")
            assert (await runner_of(deck).wait())["state"] == "failed"
            assert left.wait(scaled(5)) == -signal.SIGTERM
            info = await runner_of(deck).run_info(run)
            assert (info["state"], info["error"], info["lines"]) == ("failed", ORPHAN_ERROR, 2)
            await client.wait_for("run/status", 1)
            assert client.pushes["run/status"][-1]["data"]["error"] == ORPHAN_ERROR
            await client.close()
    finally:
        left.kill()
        left.wait()


@READS_THE_SQLITE_FILE
async def test_a_reused_pid_is_left_alone(project: Project, start_deck: Callable[..., Any], tmp_path: Path) -> None:
    other = sleeper()  # holds the recorded number, but is not the process the run had
    try:
        await until(lambda: proc.start_mark(other.pid) is not None)
        boot, _, ticks = str(proc.start_mark(other.pid)).rpartition(":")
        for mark in (f"{boot}:{int(ticks) - 1}", f"another-boot:{ticks}", None):
            run = leave_row(tmp_path / "data" / "labdeck.sqlite", other.pid, mark)
            async with start_deck(project(scripts={"main": QUIET})) as deck:
                await runner_of(deck).wait()
                info = await runner_of(deck).run_info(run)
                assert info["state"] == "interrupted", mark
                assert await runner_of(deck).run("main") == run + 1  # nothing to wait for
                await runner_of(deck).stop()
                await runner_of(deck).wait()
            assert other.poll() is None, mark
    finally:
        other.kill()
        other.wait()


@READS_THE_SQLITE_FILE
async def test_a_live_run_records_its_process_and_clears_it_at_the_end(
        project: Project, start_deck: Callable[..., Any], tmp_path: Path) -> None:
    toml = project(scripts={"quiet": QUIET})

    def recorded(run: int) -> tuple[Any, ...]:
        with sqlite3.connect(tmp_path / "data" / "labdeck.sqlite") as db:
            return tuple(db.execute("SELECT pid, pgid, process_start FROM runs WHERE id = ?", (run,)).fetchone())

    async with start_deck(toml) as deck:
        client = await connect(deck, "run/log")
        run = await runner_of(deck).run("quiet")
        await until(lambda: pids(toml.with_name("quiet.pid")), what="the script to start")
        [script] = pids(toml.with_name("quiet.pid"))
        assert recorded(run) == (script, script, proc.start_mark(script))
        assert f"started quiet (pid {script})" in log_lines(client, run)[0]["text"]
        await runner_of(deck).stop()
        await runner_of(deck).wait()
        assert recorded(run) == (None, None, None)
        await client.close()


async def test_a_program_that_cannot_run_is_reported_as_before(project: Project,
                                                                start_deck: Callable[..., Any]) -> None:
    # the parent-death wrapper starts first, so the runner checks the program itself
    toml = project(extra='tool = { command = ["./tool.sh"] }', files={"tool.sh": "#!/bin/sh\necho hi\n"})
    async with start_deck(toml) as deck:
        await runner_of(deck).run("tool")
        final = await runner_of(deck).wait()
        assert final["state"] == "failed"
        assert final["error"] == f"cannot start {toml.with_name('tool.sh')}: Permission denied"


def test_stat_of_a_process_whose_name_holds_spaces_and_parentheses(tmp_path: Path) -> None:
    odd = tmp_path / "a) (b c"
    odd.symlink_to(sys.executable)
    child = subprocess.Popen([str(odd), "-c", "import time; time.sleep(600)"], start_new_session=True)
    try:
        stat = proc.read_stat(child.pid)
        assert stat is not None and (stat.pgrp, stat.session) == (child.pid, child.pid) and stat.running
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        assert proc.start_mark(child.pid) == f"{boot}:{stat.start}"
        assert proc.live_members(child.pid, proc.start_mark(child.pid)) == [child.pid]
    finally:
        child.kill()
        child.wait()
    assert proc.read_stat(child.pid) is None and proc.start_mark(child.pid) is None


@READS_THE_SQLITE_FILE
async def test_a_server_stopped_while_killing_leaves_the_record_for_the_next(
        project: Project, start_deck: Callable[..., Any], tmp_path: Path) -> None:
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, sys, time; "
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(600)"],
                                start_new_session=True, stdout=subprocess.PIPE)
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"\n"  # SIGTERM is ignored from here
        db_path = tmp_path / "data" / "labdeck.sqlite"
        run = leave_row(db_path, stubborn.pid, proc.start_mark(stubborn.pid))
        toml = project(scripts={"main": QUIET})
        async with start_deck(toml, run_grace_term=30.0) as deck:
            assert runner_of(deck).status()["run"] == run
        assert stubborn.poll() is None
        with sqlite3.connect(db_path) as db:
            row = db.execute("SELECT state, pgid FROM runs WHERE id = ?", (run,)).fetchone()
        assert row == ("failed", stubborn.pid)
        async with start_deck(toml, run_grace_term=0.1) as deck:
            await runner_of(deck).wait()
            assert stubborn.wait(scaled(5)) == -signal.SIGKILL
            info = await runner_of(deck).run_info(run)
            assert (info["state"], info["error"]) == ("failed", ORPHAN_ERROR)
    finally:
        stubborn.kill()
        stubborn.wait()
        if stubborn.stdout is not None:
            stubborn.stdout.close()
