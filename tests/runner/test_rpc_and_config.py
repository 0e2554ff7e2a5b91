"""The ``runner`` object over the wire, presets, the [run] config checks, the state table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labdeck import load_config
from labdeck.exceptions import ConfigError, IllegalTransition
from labdeck.protocol.lifecycle import END_STATES, TRANSITIONS, RunEvent, RunState, next_state
from labdeck.runner.runs import RUNNER_METHODS
from tests.helpers import RequestFailed, runner_of
from tests.runner.conftest import Project, connect


async def test_runner_over_the_wire(project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(scripts={"main": "print('hi')"}, run={"default_config": "defaults.toml"},
                   files={"defaults.toml": "tr = 0.5\n[advanced]\nseed = 1\n"},
                   extra='[scripts.acq]\ncommand = "./acq --fast"\ncwd = "."')
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/status")

        async def call(method: str, *args: Any) -> Any:
            return await client.request("call", path=["runner", method], args=list(args))

        listing = await client.request("dir", path=["runner"])
        assert {m["name"] for m in listing["members"]} == set(RUNNER_METHODS)
        assert await call("scripts") == [{"name": "main", "command": "main.py"},
                                         {"name": "acq", "command": "./acq --fast"}]
        assert await call("default_config") == {"tr": 0.5, "advanced": {"seed": 1}}
        assert await call("presets") == {}
        await call("save_preset", "fast", {"tr": 0.25})
        await call("save_preset", "fast", {"tr": 0.3})
        assert await call("presets") == {"fast": {"tr": 0.3}}
        await call("delete_preset", "fast")
        with pytest.raises(RequestFailed, match="NotFound"):
            await call("delete_preset", "fast")
        with pytest.raises(RequestFailed, match="InvalidArguments"):
            await call("save_preset", "", {"a": 1})
        with pytest.raises(RequestFailed, match="InvalidArguments"):
            await call("run", "main", [1, 2])
        run = await call("run", "main", {"tr": 1})
        await runner_of(deck).wait()
        status = await call("status")
        assert status["run"] == run and status["state"] == "finished" and status["script"] == "main"
        assert set(status) == {"state", "run", "script", "started", "ended", "exit_code", "error", "user"}
        assert status["user"] == "127.0.0.1"  # who started it: the client's address until there is login
        page = await call("history", 10, 0)
        assert page["total"] == 1 and page["runs"][0]["user"] == "127.0.0.1"
        assert (await call("run_info", run))["config"] == {"tr": 1}
        with pytest.raises(RequestFailed, match="NotFound"):
            await call("run_info", 999)
        for private in ("wait", "open", "close", "store", "config", "delete_run", "prune"):
            with pytest.raises(RequestFailed, match="AccessDenied"):
                await client.request("call", path=["runner", private], args=[])
        with pytest.raises(RequestFailed, match="AccessDenied"):
            await client.request("pub", ch="run/status", data={"state": "forged"})
        await client.close()


def _toml(tmp_path: Path, text: str) -> Path:
    (tmp_path / "proj").mkdir(exist_ok=True)
    path = tmp_path / "proj" / "labdeck.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    ('[scripts]\nmain = "../outside.py"', "`scripts.main`: '../outside.py' is outside the project folder"),
    ('[scripts]\nmain = "/usr/lib/x.py"', "`scripts.main`: '/usr/lib/x.py' is outside the project folder"),
    ('[scripts.a]\ncommand = ["./x"]\ncwd = ".."', "`scripts.a.cwd`: '..' is outside the project folder"),
    ('[scripts.a]\ncommand = ["python3", "../x.py"]', "`scripts.a.command`"),
    ('[scripts.a]\ncommand = []', "`scripts.a.command` is empty"),
    ('[scripts.a]\ncommand = "\'unclosed"', "No closing quotation"),
    ('[run]\ngrace_int = -1', "`run.grace_int` must not be negative"),
    ('[run]\nupload_dirs = {data = "../elsewhere"}', "`run.upload_dirs.data`"),
    ('[run]\nbogus = 1', "unknown key `run.bogus`"),
])
def test_bad_run_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"labdeck\.toml: ") as info:
        load_config(_toml(tmp_path, text), env={})
    assert message in str(info.value)


def test_good_run_config(tmp_path: Path) -> None:
    config = load_config(_toml(tmp_path, '[scripts]\nmain = "s/main.py"\n[scripts.acq]\ncommand = ["/usr/bin/env", '
                                         '"./acq.py"]\ncwd = "rig"\n[run]\ngrace_int = 1.5\n'), env={})
    assert config.run.grace_int == 1.5 and config.run.grace_term == 5.0 and config.run.upload_patterns == ["*"]


def test_every_state_and_event_has_its_place_in_the_table() -> None:
    for state in RunState:
        assert any(s is state for s, _ in TRANSITIONS) or state in END_STATES
    assert next_state(RunState.IDLE, RunEvent.START) is RunState.STARTING
    assert next_state(RunState.FAILED, RunEvent.START) is RunState.STARTING
    assert next_state(RunState.RUNNING, RunEvent.EXITED_ERROR) is RunState.FAILED
    assert next_state(RunState.STOPPING, RunEvent.EXITED) is RunState.STOPPED
    assert next_state(RunState.RUNNING, RunEvent.LOST) is RunState.INTERRUPTED
    for state in END_STATES:
        assert {e for s, e in TRANSITIONS if s is state} == {RunEvent.START}


def test_an_illegal_transition_names_state_and_event() -> None:
    with pytest.raises(IllegalTransition, match="run state 'finished': event 'stop' is not allowed"):
        next_state(RunState.FINISHED, RunEvent.STOP)
    with pytest.raises(IllegalTransition, match=r"'idle'.*'exited_ok'"):
        next_state(RunState.IDLE, RunEvent.EXITED_OK)
