"""``labdeck.script`` from real scripts: plots, progress, results and config reach the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from labdeck.runner.runs import POINTS_PER_MESSAGE
from tests.helpers import runner_of, scaled, until
from tests.runner.conftest import Project, connect

DEFAULTS = """
subject = "sub-01"
trs = 3
[advanced]
noise = 0.5
"""


async def test_plot_progress_result_and_config_arrive(project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(run={"default_config": "run_config.toml"}, files={"run_config.toml": DEFAULTS}, scripts={"main": """
        from labdeck import script
        cfg = script.config()
        script.log("subject", cfg["subject"])
        for i in range(cfg["trs"]):
            script.plot(i, i * 0.5, series="classifier")
        script.plot([10, 11], [1.5, float("nan")], series="motion")
        script.progress(0.5, "half way")
        script.result("accuracy", 0.91)
        script.result("summary", {"trs": cfg["trs"], "ok": True})
        """})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/data", "run/progress", "run/result", "run/log")
        run = await runner_of(deck).run("main", {"subject": "sub-07", "trs": 4})
        assert (await runner_of(deck).wait())["state"] == "finished"
        await client.wait_for("run/result", 2)
        data = [p["data"] for p in client.pushes["run/data"]]
        classifier = [(x, y) for d in data if d["series"] == "classifier" for x, y in zip(d["x"], d["y"], strict=True)]
        assert classifier == [(0, 0.0), (1, 0.5), (2, 1.0), (3, 1.5)]
        assert all(d["run"] == run for d in data)
        motion = [d for d in data if d["series"] == "motion"]
        assert motion == [{"run": run, "series": "motion", "x": [10.0, 11.0], "y": [1.5, None]}]
        assert [p["data"] for p in client.pushes["run/progress"]] == [
            {"run": run, "fraction": 0.5, "message": "half way"}]
        assert [p["data"] for p in client.pushes["run/result"]] == [
            {"run": run, "key": "accuracy", "value": 0.91},
            {"run": run, "key": "summary", "value": {"trs": 4, "ok": True}}]
        assert any(line["text"] == "subject sub-07" for p in client.pushes["run/log"] for line in p["data"]["lines"])
        info = await runner_of(deck).run_info(run)
        assert info["config"] == {"subject": "sub-07", "trs": 4}
        assert info["results"] == {"accuracy": 0.91, "summary": {"trs": 4, "ok": True}}
        assert sorted(info["series"]) == ["classifier", "motion"]
        # no config given: the project default is handed over, and stored with the run
        run2 = await runner_of(deck).run("main")
        await runner_of(deck).wait()
        assert (await runner_of(deck).run_info(run2))["config"] == {"subject": "sub-01", "trs": 3,
                                                               "advanced": {"noise": 0.5}}
        await client.close()


async def test_units_axis_labels_and_shared_charts_reach_browsers_and_history(
        project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(scripts={"main": """
        from labdeck import script
        script.plot(0, 1.5, series="x", unit="mm", xlabel="TR", chart="motion")
        script.plot(1, 1.7, series="x")  # the labels stay the series' own
        script.plot(0, 0.2, series="y", unit="mm", xlabel="TR", chart="motion")
        script.plot(0, 0.9, series="plain")
        """})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/data")
        run = await runner_of(deck).run("main")
        assert (await runner_of(deck).wait())["state"] == "finished"
        await client.wait_for("run/data", 3)
        first = client.pushes["run/data"][0]["data"]
        assert first == {"run": run, "series": "x", "x": [0.0], "y": [1.5], "unit": "mm", "xlabel": "TR",
                         "chart": "motion"}
        async with aiohttp.ClientSession() as http, http.get(f"{deck.url}api/runs/{run}/data") as reply:
            series = (await reply.json())["series"]
        assert series["x"] == {"x": [0.0, 1.0], "y": [1.5, 1.7], "unit": "mm", "xlabel": "TR", "chart": "motion"}
        assert series["y"]["chart"] == "motion"
        assert series["plain"] == {"x": [0.0], "y": [0.9]}
        await client.close()


async def test_labels_too_long_are_a_problem_in_the_log_not_a_crash(
        project: Project, start_deck: Callable[..., Any]) -> None:
    toml = project(scripts={"main": """
        from labdeck import script
        script.plot(0, 1, series="s", unit="u" * 101)
        print("still here", flush=True)
        """})
    async with start_deck(toml) as deck:
        run = await runner_of(deck).run("main")
        assert (await runner_of(deck).wait())["state"] == "finished"
        async with aiohttp.ClientSession() as http, http.get(f"{deck.url}api/runs/{run}/log") as reply:
            texts = [line["text"] for line in (await reply.json())["lines"]]
        assert "still here" in texts
        assert any("100" in text for text in texts), texts


async def test_10000_points_from_one_script_none_lost(project: Project, start_deck: Callable[..., Any]) -> None:
    count = 10_000
    toml = project(scripts={"main": f"""
        from labdeck import script
        for i in range({count}):
            script.plot(i, i * 2.0, series="fast")
        """})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/data")
        run = await runner_of(deck).run("main")
        assert (await runner_of(deck).wait())["state"] == "finished"
        await until(lambda: sum(len(p["data"]["x"]) for p in client.pushes["run/data"]) >= count, timeout=20)
        xs = [x for p in client.pushes["run/data"] for x in p["data"]["x"]]
        ys = [y for p in client.pushes["run/data"] for y in p["data"]["y"]]
        assert xs == list(range(count)) and ys == [2.0 * i for i in range(count)]
        assert len(client.pushes["run/data"]) < count / 10  # batched
        stored = await runner_of(deck).store.query("SELECT x, y FROM run_points WHERE run = ? ORDER BY rowid", (run,))
        assert [(r[0], r[1]) for r in stored] == [(float(i), 2.0 * i) for i in range(count)]
        await client.close()


async def test_a_connection_without_the_token_is_refused(project: Project, start_deck: Callable[..., Any],
                                                         tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    toml = project(scripts={"main": f"""
        import json, os, time
        json.dump(dict(os.environ), open({str(out)!r}, "w"))
        time.sleep(60)
        """})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/data", "run/log")
        run = await runner_of(deck).run("main")
        await until(lambda: out.exists() and out.stat().st_size > 0)
        env = json.loads(out.read_text())
        assert env["LABDECK_RUN_ID"] == str(run)
        intruder = f"""
import os
os.environ["LABDECK_RUN_URL"] = {env["LABDECK_RUN_URL"]!r}
os.environ["LABDECK_RUN_TOKEN"] = "wrong"
from labdeck import script
script.plot(1, 1, series="forged")
"""
        subprocess.run([sys.executable, "-c", intruder], check=True, timeout=scaled(30))
        await until(lambda: any("without the run's token" in line["text"]
                                for p in client.pushes["run/log"] for line in p["data"]["lines"]))
        assert client.pushes["run/data"] == []
        await runner_of(deck).stop()
        await runner_of(deck).wait()
        await client.close()


def test_run_by_hand_every_call_prints(tmp_path: Path) -> None:
    (tmp_path / "labdeck.toml").write_text('[run]\ndefault_config = "defaults.toml"\n')
    (tmp_path / "defaults.toml").write_text(DEFAULTS)
    source = """
from labdeck import script
print(script.config())
script.plot(1, 2.5, series="classifier")
script.progress(0.25, "a quarter")
script.result("accuracy", 0.9)
script.log("done", 3)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_")}
    sub = tmp_path / "sub"
    sub.mkdir()
    done = subprocess.run([sys.executable, "-c", source], cwd=sub, env=env, capture_output=True, text=True,
                          timeout=scaled(30), check=True)
    assert done.stdout.splitlines() == [
        "{'subject': 'sub-01', 'trs': 3, 'advanced': {'noise': 0.5}}",
        "[plot classifier] x=1.0 y=2.5",
        "[progress 25%] a quarter",
        "[result] accuracy = 0.9",
        "done 3",
    ]
    assert done.stderr == ""
    alone = subprocess.run([sys.executable, "-c", "from labdeck import script; print(script.config())"],
                           cwd=tmp_path.parent, env=env, capture_output=True, text=True, timeout=scaled(30),
                           check=True)
    assert alone.stdout == "{}\n"


async def test_a_large_plot_goes_out_as_pushes_a_browser_can_take(project: Project,
                                                                  start_deck: Callable[..., Any]) -> None:
    """One call with 25,000 points (or a batch that grew while the server was busy) becomes
    pushes of at most POINTS_PER_MESSAGE, with every point once, in order, labels on each."""
    toml = project(scripts={"main": """
        from labdeck import script
        script.plot(range(25_000), [x / 2 for x in range(25_000)], series="big", unit="V")
        """})
    async with start_deck(toml) as deck:
        client = await connect(deck, "run/data")
        await runner_of(deck).run("main")
        assert (await runner_of(deck).wait())["state"] == "finished"
        await until(lambda: sum(len(p["data"]["x"]) for p in client.pushes["run/data"]) >= 25_000)
        data = [p["data"] for p in client.pushes["run/data"]]
        assert max(len(d["x"]) for d in data) <= POINTS_PER_MESSAGE < 25_000
        assert [x for d in data for x in d["x"]] == list(range(25_000))
        assert all(d["unit"] == "V" and d["series"] == "big" for d in data)
        await client.close()
