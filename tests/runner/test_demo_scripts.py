"""The demo's scripts run end to end on the demo deck: init, main, finalize."""

from __future__ import annotations

from pathlib import Path

from labdeck.demo import build_demo
from tests.helpers import runner_of, until
from tests.runner.conftest import connect


async def test_demo_init_main_finalize(tmp_path: Path) -> None:
    deck = build_demo(port=0, data=str(tmp_path))
    await deck.start()
    try:
        client = await connect(deck, "run/data", "run/progress", "run/result")
        assert [s["name"] for s in runner_of(deck).scripts()] == ["init", "main", "finalize"]
        defaults = runner_of(deck).default_config()
        assert defaults["trs"] == 60 and defaults["tr"] == 0.5 and "advanced" in defaults
        fast = {**defaults, "tr": 0.01, "trs": 12}
        for name in ("init", "main", "finalize"):
            await runner_of(deck).run(name, fast)
            final = await runner_of(deck).wait()
            assert final["state"] == "finished", (name, final)
        classifier = [x for p in client.pushes["run/data"] if p["data"]["series"] == "classifier"
                      for x in p["data"]["x"]]
        await client.wait_for("run/result", 5)
        assert classifier == [float(i) for i in range(1, 13)]
        assert client.pushes["run/progress"][-1]["data"]["fraction"] == 1.0
        results = {p["data"]["key"]: p["data"]["value"] for p in client.pushes["run/result"]}
        assert results["completed_trs"] == 12 and 0 <= results["accuracy"] <= 1
        session = tmp_path / "project" / results["session"]
        assert (session / "summary.txt").is_file() and (session / "config.json").is_file()
        await client.close()
    finally:
        await deck.stop()


async def test_a_stopped_demo_run_reports_what_it_plotted(tmp_path: Path) -> None:
    deck = build_demo(port=0, data=str(tmp_path))
    await deck.start()
    try:
        client = await connect(deck, "run/data", "run/progress", "run/result")
        fast = {**runner_of(deck).default_config(), "tr": 0.05, "trs": 60}
        await runner_of(deck).run("main", fast)
        await until(lambda: len(client.pushes["run/progress"]) >= 5, what="five TRs")
        await runner_of(deck).stop()
        assert (await runner_of(deck).wait())["state"] == "stopped"
        await client.wait_for("run/result", 1)
        completed = next(p["data"]["value"] for p in client.pushes["run/result"] if p["data"]["key"] == "completed_trs")
        classifier = [x for p in client.pushes["run/data"] if p["data"]["series"] == "classifier"
                      for x in p["data"]["x"]]
        last = client.pushes["run/progress"][-1]["data"]
        assert completed == len(classifier) == round(last["fraction"] * 60), (completed, len(classifier), last)
        await client.close()
    finally:
        await deck.stop()
