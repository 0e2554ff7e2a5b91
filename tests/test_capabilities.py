"""The capability seam: the runner plugs in like any other, and a third-party capability
installed as a package appears in the config, the object space, the REST API, the
dashboard and the command line without a line of labdeck changed.

The third-party capability is the one ``docs/howto/write-a-capability.md`` builds: its
code blocks are written out as a package with an entry point, exactly as pip installs one.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import textwrap
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from labdeck import Deck, capabilities
from labdeck.capability import Capability, Command, Context
from labdeck.cli import main
from labdeck.config import load_config
from labdeck.exceptions import ConfigError
from tests.conftest import ws_url
from tests.helpers import WireClient, scaled, until
from tests.importgraph import SRC, module_imports, modules_under, offences

HOWTO = Path(__file__).resolve().parents[1] / "docs" / "howto" / "write-a-capability.md"
FORBIDDEN = ("labdeck.deck", "labdeck.web.app")


def howto_files() -> dict[str, str]:
    """The how-to's files: each code block that follows a ``<!-- file: NAME -->`` line."""
    text = HOWTO.read_text(encoding="utf-8")
    found = dict(re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, re.S))
    assert {"pyproject.toml", "labdeck_stage/__init__.py", "labdeck_stage/static/stage.js"} <= found.keys()
    return found


def install(site: Path, files: dict[str, str], project: dict[str, Any]) -> None:
    """Lay out ``files`` in ``site`` with the dist-info pip would write for ``project``."""
    for name, body in files.items():
        if name.startswith("labdeck_"):
            (site / name).parent.mkdir(parents=True, exist_ok=True)
            (site / name).write_text(body, encoding="utf-8")
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = [f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
             for group, eps in project.get("entry-points", {}).items()]
    (info / "entry_points.txt").write_text("\n".join(lines))


def forget_installed() -> None:
    capabilities.load.cache_clear()
    for name in [m for m in sys.modules if m.startswith("labdeck_")]:
        del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on ``sys.path`` holding the how-to's package, installed."""
    folder = tmp_path / "site"
    folder.mkdir()
    files = howto_files()
    install(folder, files, tomllib.loads(files["pyproject.toml"])["project"])
    monkeypatch.syspath_prepend(str(folder))
    forget_installed()
    yield folder
    forget_installed()


@pytest.fixture
def stage_project(tmp_path: Path, site: Path) -> Path:
    """A project whose labdeck.toml is the how-to's, which enables the stage."""
    path = tmp_path / "labdeck.toml"
    path.write_text(howto_files()["labdeck.toml"], encoding="utf-8")
    return path


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    return caught.value.message


# -- the seam's own rules -------------------------------------------------------------


@pytest.mark.parametrize("package", sorted({ref.split(":")[0].rsplit(".", 1)[0] for ref in capabilities.BUILTIN}))
def test_no_capability_module_reaches_the_deck_or_the_web_app(package: str) -> None:
    modules = modules_under(SRC, package)
    found = offences(SRC, modules, lambda name: name in FORBIDDEN)
    found += [f"{module}: {name} (for typing)" for module in modules
              for name in module_imports(SRC, module, typing=True) if name in FORBIDDEN]
    assert not found, "a capability gets what it needs through its Context:\n" + "\n".join(found)


def test_the_import_check_sees_an_indirect_import() -> None:
    # labdeck.cli imports labdeck.deck inside a function, and so does labdeck.demo, which it imports.
    found = offences(SRC, ["labdeck.cli"], lambda name: name in FORBIDDEN)
    assert {"labdeck.cli: labdeck.deck", "labdeck.cli -> labdeck.demo: labdeck.deck"} <= set(found)


def test_the_runner_is_a_capability_with_its_object_routes_and_panels(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck()
    runner = deck.capabilities["runner"]
    assert "runner" in deck.objects.exposed
    assert {p.id for p in runner.panels} == {"overview", "run", "log", "plots", "settings", "files", "history"}
    assert ("DELETE", "admin") in {(r.method, r.needs) for r in runner.routes()}


def test_two_capabilities_of_one_name_are_refused(make_deck: Callable[..., Deck]) -> None:
    class Again(Capability):
        name = "runner"

    with pytest.raises(ValueError, match="'runner' is added twice"):
        Deck(make_deck().config, capabilities=[Again])


async def test_a_capability_hears_what_another_publishes_under_its_prefix_on_the_loop(
        make_deck: Callable[..., Deck]) -> None:
    import asyncio
    import threading

    heard: list[tuple[str, Any, bool]] = []

    class Talker(Capability):
        name = "talker"
        always = True

    class Listener(Capability):
        name = "listener"
        always = True

        def __init__(self, ctx: Context) -> None:
            super().__init__(ctx)
            ctx.listen("talk/", lambda ch, data: heard.append((ch, data, threading.current_thread() is main)))

    main = threading.current_thread()
    deck = make_deck(capabilities=[Talker, Listener])
    await deck.start()
    try:
        talk = deck.capabilities["talker"].ctx.publish
        talk("talk/a", 1)
        talk("other/b", 2)  # not under the prefix
        await asyncio.to_thread(talk, "talk/c", 3)  # from a thread: heard on the loop all the same
        async with WireClient(ws_url(deck)) as browser:
            await browser.request("pub", ch="talk/d", data=4)  # a browser's publish is not a capability's
        await until(lambda: len(heard) >= 2, what="the two messages under talk/")
        await asyncio.sleep(0.05)
    finally:
        await deck.stop()
    assert heard == [("talk/a", 1, True), ("talk/c", 3, True)]


# -- a third-party capability, installed --------------------------------------------------


def test_its_section_is_decoded_with_its_type(stage_project: Path) -> None:
    config = load_config(stage_project, env={})
    stage = config.sections["stage"]
    assert (type(stage).__name__, stage.speed_mm_s, stage.limit_mm) == ("StageConfig", 20.0, 25.0)


def test_a_misspelt_key_in_its_section_is_one_line_naming_it(stage_project: Path) -> None:
    stage_project.write_text("[stage]\nsped_mm_s = 3\n")
    assert config_error(stage_project) == f"{stage_project}: unknown key `stage.sped_mm_s`"
    stage_project.write_text("[stage]\nspeed_mm_s = 'fast'\n")
    assert config_error(stage_project) == f"{stage_project}: `stage.speed_mm_s`: Expected `float`, got `str`"


def test_a_section_no_capability_claims_is_an_unknown_key(tmp_path: Path, site: Path) -> None:
    path = tmp_path / "labdeck.toml"
    path.write_text("[eyetracker]\nrate = 500\n")
    assert config_error(path) == f"{path}: unknown key `eyetracker`"


def test_a_broken_capability_is_one_line_naming_it(stage_project: Path, site: Path) -> None:
    (site / "labdeck_stage" / "__init__.py").write_text("import labdeck_no_such_module\n")
    message = config_error(stage_project)
    assert message == (f"{stage_project}: `stage`: capability 'stage' (labdeck_stage:Stage) failed to load: "
                       "ModuleNotFoundError: No module named 'labdeck_no_such_module'")


def test_an_entry_point_that_is_not_a_capability_is_refused(stage_project: Path, site: Path) -> None:
    (site / "labdeck_stage" / "__init__.py").write_text("Stage = 42\n")
    assert "is not a labdeck.capability.Capability subclass" in config_error(stage_project)


def test_without_its_section_it_stays_off(make_deck: Callable[..., Deck], site: Path) -> None:
    deck = make_deck()
    assert list(deck.capabilities) == ["runner"]  # shipped ones other than the runner wait for their section
    assert "stage" not in deck.objects.exposed


async def test_it_appears_in_objects_rest_api_openapi_and_panels(
    make_deck: Callable[..., Deck], stage_project: Path
) -> None:
    deck = make_deck(stage_project)
    await deck.start()
    try:
        assert list(deck.capabilities) == ["runner", "stage"]
        async with WireClient(ws_url(deck)) as client:
            await client.request("sub", ch="obj/stage/position_mm")
            assert await client.request("call", path=["stage", "move_to"], args=[0.5]) == 0.5
            assert await client.request("get", path=["stage", "position_mm"]) == 0.5
            await until(lambda: client.pushes["obj/stage/position_mm"][-1]["data"] == 0.5, what="the last position")
            with pytest.raises(Exception, match="beyond the limit"):
                await client.request("call", path=["stage", "move_to"], args=[99])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{deck.url}api/stage") as reply:
                assert (reply.status, await reply.json()) == (200, {"position_mm": 0.5, "moving": False})
            async with http.get(f"{deck.url}api/openapi.json") as reply:
                spec = await reply.json()
            assert spec["paths"]["/api/stage"]["get"]["x-labdeck-role"] == "viewer"
            assert spec["paths"]["/api/runs/{id}"].keys() == {"get", "delete"}
            async with http.get(f"{deck.url}api/panels") as reply:
                panels = (await reply.json())["panels"]
            stage = next(p for p in panels if p["id"] == "stage")
            assert stage == {"id": "stage", "title": "Stage", "module": "static/cap/stage/stage.js", "css": None,
                             "order": 70, "capability": "stage", "summary": "static/cap/stage/summary.js"}
            assert [p["order"] for p in panels] == sorted(p["order"] for p in panels)
            async with http.get(f"{deck.url}{stage['module']}") as reply:
                assert reply.status == 200
                assert "export default" in await reply.text()
                assert reply.content_type in ("application/javascript", "text/javascript")
            for escape in ("%2e%2e/__init__.py", "..%2f__init__.py", "%2e%2e%2f__init__.py"):
                async with http.get(URL(f"{deck.url}static/cap/stage/{escape}", encoded=True)) as reply:
                    assert reply.status in (403, 404), escape
    finally:
        await deck.stop()


def test_its_commands_join_the_command_line(site: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    stage = capabilities.load("stage")

    def home(args: Any) -> int:
        print(f"homing {args.axis} with {args.config}")
        return 0

    monkeypatch.setattr(stage, "commands", (Command("stage-home", "drive the stage home",
                                                    lambda p: p.add_argument("axis"), home),))
    assert main(["stage-home", "x", "--config", "lab.toml"]) == 0
    assert capsys.readouterr().out == "homing x with lab.toml\n"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "stage-home" in capsys.readouterr().out


def test_labdeck_serve_finds_it_as_installed(stage_project: Path, site: Path, tmp_path: Path) -> None:
    stage_project.write_text(stage_project.read_text() + textwrap.dedent("""
        [server]
        port = 0
        data = "data"
    """))
    env = {"PYTHONPATH": f"{site}:{Path(__file__).resolve().parents[1] / 'src'}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "labdeck", "serve", "--config", str(stage_project)],
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        url = None
        for _ in range(200):
            line = proc.stderr.readline()
            if m := re.search(r"labdeck serving (http://\S+)", line):
                url = m[1]
                break
        assert url, "the server did not start"
        with urllib.request.urlopen(f"{url}api/panels", timeout=scaled(5)) as reply:
            ids = [p["id"] for p in json.load(reply)["panels"]]
        assert "stage" in ids and "run" in ids
    finally:
        proc.terminate()
        proc.wait(scaled(10))
        if proc.stderr is not None:
            proc.stderr.close()


async def test_a_class_given_to_the_deck_reads_its_section_without_being_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deck(path, capabilities=[Stage]): the class's own section is its config, as an
    installed capability's would be (embedding, trying a capability before packaging it)."""
    folder = tmp_path / "code"
    for name, body in howto_files().items():
        if name.startswith("labdeck_"):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(body, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    forget_installed()
    from labdeck_stage import Stage  # type: ignore[import-not-found]

    path = tmp_path / "labdeck.toml"
    path.write_text(f'[server]\nport = 0\ndata = "{tmp_path / "data"}"\n[stage]\nspeed_mm_s = 7.5\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key `stage`"):
        Deck(path)  # neither installed nor given
    deck = Deck(path, capabilities=[Stage])
    await deck.start()
    try:
        assert deck.capabilities["stage"].ctx.config.speed_mm_s == 7.5
    finally:
        await deck.stop()
        sys.modules.pop("labdeck_stage", None)
