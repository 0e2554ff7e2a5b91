"""Stopping runs, and scripts that misbehave: the run ends with a clear status, the server serves."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labdeck.runner.process import CONTINUED, MAX_LINE
from tests.conftest import SUITE_STORE
from tests.helpers import runner_of, scaled, until
from tests.runner.conftest import Project, connect, log_lines


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for init to reap it counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


async def _read_pid(path: Path) -> int:
    await until(lambda: path.exists() and path.read_text().strip() != "", what=str(path))
    return int(path.read_text())


async def test_stop_escalates_to_sigkill_and_the_grandchild_dies(project: Project, start_deck: Callable[..., Any],
                                                                   tmp_path: Path) -> None:
    child_pid = tmp_path / "child.pid"
    toml = project(run={"grace_int": 0.3, "grace_term": 0.3}, scripts={"main": f"""
        import signal, subprocess, sys, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(child_pid)!r}, "w").write(str(child.pid))
        print("ignoring signals", flush=True)
        while True:
            time.sleep(0.05)
        """})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/log")
        run = await runner_of(deck).run("main")
        grandchild = await _read_pid(child_pid)
        await until(lambda: any(line["text"] == "ignoring signals" for line in log_lines(client, run)))
        await runner_of(deck).stop()
        assert runner_of(deck).status()["state"] == "stopping"
        final = await runner_of(deck).wait()
        assert final["state"] == "stopped" and final["exit_code"] == -9
        await until(lambda: any(line["text"].startswith("main ended") for line in log_lines(client, run)))
        notes = [line["text"] for line in log_lines(client, run) if line["stream"] == "labdeck"]
        steps = [n for n in notes if n.startswith(("sending", "still running"))]
        pgid = final and notes[0].split("pid ")[1].split(")")[0]
        assert steps == [f"sending SIGINT to process group {pgid}", "still running 0.3 s after SIGINT",
                         f"sending SIGTERM to process group {pgid}", "still running 0.3 s after SIGTERM",
                         f"sending SIGKILL to process group {pgid}"]
        await until(lambda: not _alive(grandchild), what="the grandchild to die")
        await client.close()


async def test_a_script_that_handles_sigint_stops_cleanly(project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(scripts={"main": """
        import time
        try:
            print("working", flush=True)
            time.sleep(60)
        except KeyboardInterrupt:
            print("cleaning up", flush=True)
        """})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/log")
        run = await runner_of(deck).run("main")
        await until(lambda: any(line["text"] == "working" for line in log_lines(client, run)))
        await runner_of(deck).stop()
        final = await runner_of(deck).wait()
        assert (final["state"], final["exit_code"]) == ("stopped", 0)
        await until(lambda: any(line["text"] == "cleaning up" for line in log_lines(client, run)))
        assert not any("SIGTERM" in line["text"] for line in log_lines(client, run))
        await client.close()


async def test_binary_garbage_is_decoded_with_replacement(project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(scripts={"main": r"""
        import sys
        sys.stdout.buffer.write(b"ok \xff\xfe\x00 bytes\n" + bytes(range(256)) + b"\n")
        sys.stdout.buffer.write("caf\u00e9\n".encode())
        """})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/log")
        run = await runner_of(deck).run("main")
        assert (await runner_of(deck).wait())["state"] == "finished"
        lines = await _stored_lines(deck, run)
        out = [line["text"] for line in lines if line["stream"] == "stdout"]
        # PostgreSQL's text cannot hold NUL: it is kept there as U+FFFD (SQLite keeps it)
        assert out[0] == ("ok \ufffd\ufffd\ufffd bytes" if SUITE_STORE else "ok \ufffd\ufffd\x00 bytes")
        assert out[-1] == "café"
        assert "\ufffd" in out[1] or len(out) > 3  # bytes 128-255 replaced (byte 10 splits a line)
        await client.close()


async def _stored_lines(deck: Any, run: int) -> list[dict[str, Any]]:
    from labdeck.runner import history

    return await deck.store.run(lambda db: history.log_lines(db, run, 0, 1_000_000))


async def test_a_10_mb_line_without_newline_is_split_and_kept_whole(project: Project,
                                                                    start_deck: Callable[..., Any]) -> None:
    size = 10 * 1024 * 1024
    toml = project(scripts={"main": f"""
        import sys
        sys.stdout.write("x" * {size})
        sys.stdout.flush()
        """})
    async with start_deck(toml) as deck:
        run = await runner_of(deck).run("main")
        assert (await runner_of(deck).wait())["state"] == "finished"
        pieces = [line["text"] for line in await _stored_lines(deck, run) if line["stream"] == "stdout"]
        assert all(len(p) <= MAX_LINE + len(CONTINUED) for p in pieces)
        assert all(p.endswith(CONTINUED) for p in pieces[:-1]) and not pieces[-1].endswith(CONTINUED)
        assert "".join(p.removesuffix(CONTINUED) for p in pieces) == "x" * size


async def test_a_flood_of_100000_lines_is_complete_on_disk_and_the_server_answers(
        project: Project, start_deck: Callable[..., Any]) -> None:
    count = 100_000
    toml = project(scripts={"main": f"""
        import sys
        w = sys.stdout.write
        for i in range({count}):
            w(f"line {{i}}\\n")
        """})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/log")
        run = await runner_of(deck).run("main")
        answered = 0
        while runner_of(deck).status()["state"] == "running":
            assert "run/log" in await asyncio.wait_for(client.request("channels"), scaled(5))
            answered += 1
            await asyncio.sleep(0.005)
        final = await runner_of(deck).wait()
        assert final["state"] == "finished"
        assert answered >= 1
        lines = [line for line in await _stored_lines(deck, run) if line["stream"] == "stdout"]
        assert [line["text"] for line in lines] == [f"line {i}" for i in range(count)]
        await until(lambda: sum(1 for line in log_lines(client, run) if line["stream"] == "stdout") == count,
                    timeout=30, what="every line on run/log")
        pushes = [p for p in client.pushes["run/log"] if p["data"]["run"] == run]
        assert len(pushes) < count / 10  # batched
        assert max(len(p["data"]["lines"]) for p in pushes) <= 1000
        await client.close()


async def test_a_daemon_that_detaches_does_not_keep_the_run_alive(project: Project, start_deck: Callable[..., Any],
                                                                  tmp_path: Path) -> None:
    daemon_pid = tmp_path / "daemon.pid"
    toml = project(scripts={"main": f"""
        import os, sys, time
        if os.fork() == 0:
            os.setsid()                    # leaves the run's process group and session
            if os.fork() == 0:
                open({str(daemon_pid)!r}, "w").write(str(os.getpid()))
                time.sleep(30)             # stdout and stderr stay open
            os._exit(0)
        deadline = time.monotonic() + 30
        while not os.path.exists({str(daemon_pid)!r}) and time.monotonic() < deadline:
            time.sleep(0.01)                   # the daemon is detached before the script ends
        print("parent done", flush=True)
        """})
    async with start_deck(toml) as deck:
        run = await runner_of(deck).run("main")
        final = await runner_of(deck).wait()
        assert final["state"] == "finished"
        texts = [line["text"] for line in await _stored_lines(deck, run)]
        assert "parent done" in texts
        assert any("detached process" in t for t in texts)
        pid = await _read_pid(daemon_pid)
        os.kill(pid, 9)  # out of the run's reach by design (see the runner docs); clean up here


async def test_missing_script_file_fails_clearly(project: Project, start_deck: Callable[..., Any],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    toml = project(scripts={"main": "pass"})
    (toml.parent / "main.py").unlink()
    async with start_deck(toml) as deck:
        # Said at start-up already, before anyone presses Run.
        said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any("script 'main': file not found" in m and "main.py" in m for m in said), said
        await runner_of(deck).run("main")
        final = await runner_of(deck).wait()
        assert final["state"] == "failed" and final["exit_code"] is None
        assert final["error"].startswith("script file not found:") and final["error"].endswith("main.py")


async def test_missing_interpreter_fails_clearly(project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(extra='[scripts.acq]\ncommand = ["no-such-interpreter-xyz", "acq.py"]')
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/status")
        await runner_of(deck).run("acq")
        final = await runner_of(deck).wait()
        assert final["state"] == "failed"
        assert final["error"] == "cannot start no-such-interpreter-xyz: No such file or directory"
        await until(lambda: client.pushes["run/status"][-1]["data"]["state"] == "failed")
        # the next run may start at once
        await runner_of(deck).run("acq")
        assert (await runner_of(deck).wait())["state"] == "failed"
        await client.close()


async def test_a_command_line_script_runs_in_its_folder(project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(extra=f'[scripts.where]\ncommand = ["{sys.executable}", "-c", "import os; print(os.getcwd())"]\n'
                         'cwd = "rig"')
    (toml.parent / "rig").mkdir()
    async with start_deck(toml) as deck:
        run = await runner_of(deck).run("where")
        assert (await runner_of(deck).wait())["state"] == "finished"
        texts = [line["text"] for line in await _stored_lines(deck, run) if line["stream"] == "stdout"]
        assert texts == [str(toml.parent / "rig")]
