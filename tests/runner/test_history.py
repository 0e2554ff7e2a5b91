"""Run history: REST paging, log and data, exact CSV and JSONL exports, deletion, the restart rule."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labdeck.store import Store
from tests.conftest import READS_THE_SQLITE_FILE
from tests.helpers import http_session, runner_of, until
from tests.runner.conftest import Project, connect, log_lines

SCRIPT = """
import os
from labdeck import script
n = int(os.environ["LABDECK_RUN_ID"])
for i in range(3):
    print(f"run {n} line {i}")
script.plot([0.1, 0.2], [n * 1.0, 1e-300], series="a,b")
script.plot(7, 1 / 3, series="plain")
script.result("n", n)
"""


async def _runs(deck: Any, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        ids.append(await runner_of(deck).run("main"))
        assert (await runner_of(deck).wait())["state"] == "finished"
    return ids


async def test_history_paging_log_and_data(project: Project, start_deck: Callable[..., Any]) -> None:
    async with start_deck(project(scripts={"main": SCRIPT})) as deck:
        ids = await _runs(deck, 5)
        base = deck.url + "api"
        async with http_session(deck.url) as http:
            page = await (await http.get(f"{base}/runs?limit=2&offset=1")).json()
            assert page["total"] == 5 and [r["id"] for r in page["runs"]] == [ids[3], ids[2]]
            assert set(page["runs"][0]) == {"id", "script", "user", "state", "started", "ended", "exit_code", "error"}
            assert page == await runner_of(deck).history(2, 1)
            info = await (await http.get(f"{base}/runs/{ids[0]}")).json()
            assert info["results"] == {"n": ids[0]} and info["state"] == "finished"
            log = await (await http.get(f"{base}/runs/{ids[0]}/log?after=1&limit=3")).json()
            assert [line["n"] for line in log["lines"]] == [2, 3, 4]
            assert [line["text"] for line in log["lines"] if line["stream"] == "stdout"][:2] == [
                f"run {ids[0]} line 0", f"run {ids[0]} line 1"]
            data = await (await http.get(f"{base}/runs/{ids[0]}/data")).json()
            assert data == {"series": {"a,b": {"x": [0.1, 0.2], "y": [float(ids[0]), 1e-300]},
                                       "plain": {"x": [7.0], "y": [1 / 3]}}}
            one = await (await http.get(f"{base}/runs/{ids[0]}/data?series=plain")).json()
            assert list(one["series"]) == ["plain"]
            for bad in ("runs?limit=0", "runs?limit=x", "runs/999", "runs/999/log", "runs/1/log?after=-1"):
                resp = await http.get(f"{base}/{bad}")
                assert resp.status in (400, 404), bad
                assert set((await resp.json())["error"]) == {"type", "message"}
            doc = await (await http.get(f"{base}/openapi.json")).json()
            assert {"/api/runs", "/api/runs/{id}/data.csv", "/api/uploads/{dir}"} <= set(doc["paths"])


async def test_history_filters_by_script_state_user_and_date(project: Project,
                                                             start_deck: Callable[..., Any]) -> None:
    toml = project(scripts={"main": SCRIPT, "other": "import sys\nsys.exit(3)\n"})
    async with start_deck(toml) as deck:
        runner = runner_of(deck)
        mains = await _runs(deck, 2)
        await runner.start_run("other", None, "vera")
        assert (await runner.wait())["state"] == "failed"
        base = deck.url + "api/runs"
        async with http_session(deck.url) as http:
            page = await (await http.get(f"{base}?script=main")).json()
            assert [r["id"] for r in page["runs"]] == mains[::-1] and page["total"] == 2
            assert page["scripts"] == ["main", "other"] and "vera" in page["users"]
            failed = await (await http.get(f"{base}?state=failed&user=vera")).json()
            assert [r["script"] for r in failed["runs"]] == ["other"]
            first = (await runner.run_info(mains[0]))["started"]
            later = await (await http.get(f"{base}?since={int(first) + 3600}")).json()
            assert later["total"] == 0
            window = await (await http.get(f"{base}?since={int(first)}&until={int(first) + 3600}&script=main")).json()
            assert window["total"] == 2
            for bad in ("state=melted", "since=soon", "until=-5", "script=" + "x" * 201):
                resp = await http.get(f"{base}?{bad}")
                assert resp.status == 400, bad
                assert set((await resp.json())["error"]) == {"type", "message"}


async def test_csv_and_jsonl_exports_are_exact(project: Project, start_deck: Callable[..., Any]) -> None:
    async with start_deck(project(scripts={"main": SCRIPT})) as deck:
        (run,) = await _runs(deck, 1)
        async with http_session(deck.url) as http:
            resp = await http.get(f"{deck.url}api/runs/{run}/data.csv")
            assert resp.content_type == "text/csv"
            assert f'filename="run-{run}-data.csv"' in resp.headers["Content-Disposition"]
            text = await resp.text()
            assert text == (f'series,x,y\n"a,b",0.1,{float(run)!r}\n"a,b",0.2,1e-300\nplain,7.0,{1 / 3!r}\n')
            rows = list(csv.reader(io.StringIO(text)))
            assert float(rows[3][2]) == 1 / 3
            jsonl = await (await http.get(f"{deck.url}api/runs/{run}/data.jsonl")).text()
            assert [json.loads(line) for line in jsonl.splitlines()] == [
                {"series": "a,b", "x": 0.1, "y": float(run)}, {"series": "a,b", "x": 0.2, "y": 1e-300},
                {"series": "plain", "x": 7.0, "y": 1 / 3}]


async def test_deleting_and_pruning_runs(project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(scripts={"main": SCRIPT, "slow": "import time\ntime.sleep(60)"})
    async with start_deck(toml) as deck:
        ids = await _runs(deck, 4)
        async with http_session(deck.url) as http:
            resp = await http.delete(f"{deck.url}api/runs/{ids[1]}")
            assert resp.status == 200
            assert (await http.get(f"{deck.url}api/runs/{ids[1]}")).status == 404
            assert (await http.delete(f"{deck.url}api/runs/{ids[1]}")).status == 404
            left = await runner_of(deck).store.query("SELECT COUNT(*) FROM run_log WHERE run = ?", (ids[1],))
            assert left[0][0] == 0
            live = await runner_of(deck).run("slow")
            assert (await http.delete(f"{deck.url}api/runs/{live}")).status == 409
            resp = await http.post(f"{deck.url}api/runs/prune?keep=2")
            assert sorted((await resp.json())["deleted"]) == [ids[0], ids[2]]
            assert [r["id"] for r in (await runner_of(deck).history())["runs"]] == [live, ids[3]]
            assert (await http.post(f"{deck.url}api/runs/prune")).status == 400
            await runner_of(deck).stop()
            await runner_of(deck).wait()
            # the newest run deleted, the next one still gets a new id: browsers and
            # channel history name runs by id, so an id must never mean two runs
            assert (await http.delete(f"{deck.url}api/runs/{live}")).status == 200
            assert await runner_of(deck).run("main") == live + 1
            await runner_of(deck).wait()


@READS_THE_SQLITE_FILE
async def test_a_run_left_running_becomes_interrupted_on_restart(project: Project, start_deck: Callable[..., Any],
                                                                 tmp_path: Path) -> None:
    db_path = tmp_path / "data" / "labdeck.sqlite"
    store = Store(db_path)  # a previous server that died mid-run left these rows
    store.run_sync(lambda db: db.executemany(
        "INSERT INTO runs (script, command, state, started) VALUES (?, '[]', ?, 1.0)",
        [("main", "running"), ("main", "stopping"), ("main", "finished")]))
    store.close()
    async with start_deck(project(scripts={"main": SCRIPT})) as deck:
        client = await connect(deck, "run/status")
        runs = (await runner_of(deck).history())["runs"]
        assert [r["state"] for r in runs] == ["finished", "interrupted", "interrupted"]
        assert runs[1]["error"] == "the server stopped while the run was alive" and runs[1]["ended"] is not None
        await client.wait_for("run/status", 1)
        assert client.pushes["run/status"][-1]["data"]["state"] == "idle"
        await client.close()
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM runs WHERE state = 'interrupted'").fetchone()[0] == 2


@READS_THE_SQLITE_FILE
async def test_server_shutdown_mid_run_records_interrupted(project: Project, start_deck: Callable[..., Any],
                                                           tmp_path: Path) -> None:
    toml = project(scripts={"slow": "import time\nprint('up', flush=True)\ntime.sleep(60)"})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/log")
        run = await runner_of(deck).run("slow")
        await until(lambda: any(line["text"] == "up" for line in log_lines(client, run)))
        await client.close()
    with sqlite3.connect(tmp_path / "data" / "labdeck.sqlite") as db:
        state, code = db.execute("SELECT state, exit_code FROM runs WHERE id = ?", (run,)).fetchone()
        texts = [t for (t,) in db.execute("SELECT text FROM run_log WHERE run = ? ORDER BY n", (run,))]
    assert state == "interrupted" and code is not None
    assert "sending SIGINT to process group" in " ".join(texts)
    # an uncaught KeyboardInterrupt ends Python through the signal itself
    assert texts[-2:] == ["the server shut down during the run", "slow ended: killed by SIGINT"]


EDITS = """
from labdeck.protocol.link import Clear, Plot
from labdeck.runner import script
script.send(Plot("tr", [1, 2, 3], [0.1, 0.2, 0.3], replace=True))
script.send(Plot("tr", [2, 4], [0.25, 0.4], replace=True))  # TR 2 again, and a new TR
script.send(Plot("plain", [1], [1.0]))
script.send(Clear("plain"))
script.send(Plot("plain", [1, 1], [2.0, 3.0]))  # without replace: two points at x = 1
script.send(Plot("gone", [0], [0.0]))
script.send(Clear("gone"))
"""


async def test_replaced_and_cleared_points_are_stored_as_the_script_sent_them(
        project: Project, start_deck: Callable[..., Any]) -> None:
    async with start_deck(project(scripts={"main": EDITS})) as deck:
        (run,) = await _runs(deck, 1)
        async with http_session(deck.url) as http:
            data = await (await http.get(f"{deck.url}api/runs/{run}/data")).json()
        assert data == {"series": {"tr": {"x": [1, 2, 3, 4], "y": [0.1, 0.25, 0.3, 0.4]},
                                   "plain": {"x": [1, 1], "y": [2.0, 3.0]}}}
