"""Running scripts: lines as printed, streams, exit codes, one run at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labdeck.exceptions import Busy, NotFound
from tests.helpers import runner_of, until
from tests.runner.conftest import Project, connect, log_lines, states


async def test_lines_arrive_as_printed_not_at_exit(project: Project, start_deck: Callable[..., Any],
                                                    tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    toml = project(scripts={"main": f"""
        import os, sys, time
        print("first line", flush=True)
        deadline = time.monotonic() + 60
        while not os.path.exists({str(gate)!r}) and time.monotonic() < deadline:
            time.sleep(0.01)
        print("second line")
        """})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/log", "run/status")
        run = await client.request("call", path=["runner", "run"], args=["main"])
        await until(lambda: any(line["text"] == "first line" for line in log_lines(client, run)),
                    what="the first line while the script still runs")
        assert runner_of(deck).status()["state"] == "running"
        assert not any(line["text"] == "second line" for line in log_lines(client, run))
        gate.touch()
        final = await runner_of(deck).wait()
        assert final["state"] == "finished" and final["exit_code"] == 0
        await until(lambda: states(client)[-1:] == ["finished"])
        texts = [line["text"] for line in log_lines(client, run) if line["stream"] == "stdout"]
        assert texts == ["first line", "second line"]
        ns = [line["n"] for line in log_lines(client, run)]
        assert ns == list(range(1, len(ns) + 1))
        assert "starting" in states(client) and "running" in states(client)
        await client.close()


async def test_stdout_and_stderr_are_merged_with_stream_tags(project: Project,
                                                            start_deck: Callable[..., Any]) -> None:
    toml = project(scripts={"main": """
        import sys
        print("out 1", flush=True)
        print("err 1", file=sys.stderr, flush=True)
        print("out 2", flush=True)
        """})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/log")
        run = await runner_of(deck).run("main")
        await runner_of(deck).wait()
        await until(lambda: any(line["text"].startswith("main ended") for line in log_lines(client, run)))
        tagged = [(line["stream"], line["text"]) for line in log_lines(client, run) if line["stream"] != "labdeck"]
        assert sorted(tagged) == [("stderr", "err 1"), ("stdout", "out 1"), ("stdout", "out 2")]
        assert tagged.index(("stdout", "out 1")) < tagged.index(("stdout", "out 2"))
        await client.close()


@pytest.mark.parametrize(("source", "state", "code", "error"), [
    ("print('ok')", "finished", 0, None),
    ("import sys\nprint('bad input file', file=sys.stderr)\nsys.exit(3)", "failed", 3, "bad input file"),
    ("print('before')\n1 / 0", "failed", 1, "ZeroDivisionError: division by zero"),
])
async def test_exit_status_is_recorded(project: Project, start_deck: Callable[..., Any], source: str, state: str,
                                       code: int, error: str | None) -> None:
    toml = project(scripts={"main": source})
    async with start_deck(toml) as deck:
        run = await runner_of(deck).run("main")
        final = await runner_of(deck).wait()
        assert (final["state"], final["exit_code"], final["error"]) == (state, code, error)
        info = await runner_of(deck).run_info(run)
        assert (info["state"], info["exit_code"], info["error"]) == (state, code, error)
        assert info["ended"] >= info["started"]


async def test_a_second_run_is_busy_naming_the_first(project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(scripts={"main": "import time\ntime.sleep(60)", "other": "print(1)"})
    async with start_deck(toml) as deck:
        client = await connect(deck)
        run = await runner_of(deck).run("main")
        with pytest.raises(Busy, match=f"run {run} of script 'main'"):
            await runner_of(deck).run("other")
        reply = await client.reply_to_raw(
            '{"id": 7, "op": "call", "path": ["runner", "run"], "args": ["other"]}', 7)
        assert reply["error"]["type"] == "Busy" and f"run {run}" in reply["error"]["message"]
        await runner_of(deck).stop()
        assert (await runner_of(deck).wait())["state"] == "stopped"
        await client.close()


async def test_unknown_script_is_not_found(project: Project, start_deck: Callable[..., Any]) -> None:
    async with start_deck(project(scripts={"main": "pass"})) as deck:
        with pytest.raises(NotFound, match=r"no script named 'nope'.*main"):
            await runner_of(deck).run("nope")
        assert runner_of(deck).status()["state"] == "idle"
