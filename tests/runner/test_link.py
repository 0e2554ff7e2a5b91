"""The script link on a real socket: what a program writes to ``LABDECK_RUN_URL`` by hand,
good and bad, reaches the browser or the run's log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.helpers import runner_of, until
from tests.runner.conftest import Project, connect, log_lines

RAW_SCRIPT = r"""
import os, socket
host, port = os.environ["LABDECK_RUN_URL"].removeprefix("tcp://").rsplit(":", 1)
sock = socket.create_connection((host, int(port)))
token = os.environ["LABDECK_RUN_TOKEN"]
sock.sendall(
    b'{"token": "' + token.encode() + b'"}\n'     # the hello of labdeck 0.1.0 scripts
    + b'not json\n'
    + b'{"op": "paint"}\n'
    + b'{"op": "plot", "series": "s", "x": [1, 2], "y": [1]}\n'
    + b'{"op": "plot", "series": "s", "x": [1, 2], "y": [0.5, null], "colour": "red"}\n'
    + b'{"op": "progress", "fraction": 7}\n'
    + b'{"op": "result", "key": "last", "value": [1, "two"]}'   # no newline: the end closes it
)
sock.close()
"""


async def test_a_program_speaking_the_link_by_hand(project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(scripts={"main": RAW_SCRIPT})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/data", "run/progress", "run/result", "run/log")
        run = await runner_of(deck).run("main")
        assert (await runner_of(deck).wait())["state"] == "finished"
        await until(lambda: client.pushes["run/result"], what="the result")
        assert [p["data"] for p in client.pushes["run/data"]] == [
            {"run": run, "series": "s", "x": [1.0, 2.0], "y": [0.5, None]}]
        assert [p["data"] for p in client.pushes["run/progress"]] == [{"run": run, "fraction": 1.0, "message": ""}]
        assert [p["data"] for p in client.pushes["run/result"]] == [{"run": run, "key": "last", "value": [1, "two"]}]
        notes = [line["text"] for line in log_lines(client, run) if line["stream"] == "labdeck"]
        assert notes[1:4] == ["a message from the script is not JSON: b'not json'",
                              "unknown message op 'paint' from the script",
                              "plot: x and y are not lists of the same length"]
        await client.close()
