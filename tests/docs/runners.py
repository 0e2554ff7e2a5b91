"""How a block of the docs runs for real: each runner takes the block, its table entry and
a :class:`Where` (a scratch folder, and the shared :class:`Lab` server when it needs one).

The lab is one labdeck server on a loopback port for the whole module, in open mode (as a
lab machine runs it), with one script per ``Run("script")`` block, the protocol page's
``sample`` object and an admin API token for the blocks that send ``$TOKEN``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from labdeck import Deck, load_config
from labdeck.auth.tokens import Tokens
from labdeck.client import SyncClient
from labdeck.store import Store
from tests.docs.blocks import Block, Run
from tests.helpers import free_port, scaled
from tests.objects.samples import Sample

LAB_PLACE = re.compile(r"(https?|wss?)://[\w.-]+:8888")
"""Where the docs' examples find a server; the lab's address takes its place."""
T = TypeVar("T")
ENDED = {"finished", "failed", "stopped", "interrupted"}


@dataclass
class Lab:
    deck: Deck
    token: str
    folder: Path

    @property
    def url(self) -> str:
        return self.deck.url

    def at_lab(self, code: str) -> str:
        """``code`` with the docs' server address replaced by the lab's."""
        host = self.url.split("://", 1)[1].rstrip("/")
        return LAB_PLACE.sub(lambda m: f"{m[1].replace('https', 'http').replace('wss', 'ws')}://{host}", code)


@dataclass
class Where:
    folder: Path
    fixture: Callable[[str], Any]
    """The test's ``request.getfixturevalue``: the module's ``lab`` and ``chromium``."""
    blocks: dict[str, Block]

    def lab(self) -> Lab:
        lab: Lab = self.fixture("lab")
        return lab

    def lay_out(self, entry: Run, folder: Path) -> None:
        for name, text in entry.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.blocks[text].code if text in self.blocks else text, encoding="utf-8")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` on a thread of its own: Playwright's sync API (the ``chromium``
    fixture) keeps an event loop running on this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def script_name(block: Block) -> str:
    return "doc_" + re.sub(r"\W", "_", block.name.removesuffix(".md").replace(".md#", "_"))


def start_lab(folder: Path, scripts: dict[str, str], objects: dict[str, tuple[Any, Any]], more: str = "") -> Lab:
    """The shared server, serving from a background thread; ``scripts`` by name, ``objects``
    exposed by name with their policy, beside the protocol page's ``sample``; ``more`` is
    more of its ``labdeck.toml``."""
    lines = [more, "[server]", 'data = "data"', "", "[scripts]"]
    for name, code in scripts.items():
        (folder / "scripts").mkdir(exist_ok=True)
        (folder / "scripts" / f"{name}.py").write_text(code, encoding="utf-8")
        lines.append(f'{name} = "scripts/{name}.py"')
    (folder / "labdeck.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "data").mkdir()
    token = run_async(_admin_token(folder / "data" / "labdeck.sqlite"))
    deck = Deck(load_config(folder / "labdeck.toml", env={}, overrides={"server.port": 0}))
    deck.expose("sample", Sample())
    for name, (obj, policy) in objects.items():
        deck.expose(name, obj, policy)
    deck.run_in_thread(timeout=scaled(30))
    return Lab(deck, token, folder)


async def _admin_token(database: Path) -> str:
    store = Store(database)
    try:
        return await Tokens(store).add("docs", "admin")
    finally:
        store.close()


def stop_lab(lab: Lab) -> None:
    lab.deck.shutdown()
    lab.deck.join(scaled(30))


def env(**extra: str) -> dict[str, str]:
    """This environment without labdeck's own variables, with the source tree importable."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_")}
    base.update(PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"), **extra)
    return base


# -- the runners --------------------------------------------------------------------------

def run_python(block: Block, entry: Run, where: Where) -> None:
    """Execute the block (after ``entry.setup``) as a module of its own, in this process."""
    exec(compile(entry.setup + block.code, block.where, "exec"), {"__name__": "doc_block"})


def run_script(block: Block, entry: Run, where: Where) -> int:
    """Run the block as a script of the lab's project, through the runner, to its end; the
    run's id."""
    lab = where.lab()
    with SyncClient(lab.url.replace("http", "ws", 1) + "ws", token=lab.token) as deck:
        run = deck.call(["runner", "run"], script_name(block), entry.config)
        deadline = time.monotonic() + scaled(30)
        status = deck.call(["runner", "status"])
        while not (status["run"] == run and status["state"] in ENDED):
            assert time.monotonic() < deadline, f"{block.where}: run {run} still {status['state']}"
            time.sleep(0.05)
            status = deck.call(["runner", "status"])
    log = _get_json(lab, f"api/runs/{run}/log")
    text = "\n".join(str(line.get("text", line)) for line in log.get("lines", []))
    assert status["state"] == "finished", f"{block.where}: the run {status['state']}: {status['error']}\n{text}"
    if "script.plot(" in block.code:
        series = _get_json(lab, f"api/runs/{run}/data")["series"]
        assert series and all(s["x"] for s in series.values()), f"{block.where}: no points were stored: {series}"
    for line in entry.expect.splitlines():
        assert line in text, f"{block.where}: the log has no {line!r}:\n{text}"
    return int(run)


LINK_SCRIPT = """import json, os, socket
lines = json.loads({lines!r})
address = os.environ["LABDECK_RUN_URL"].removeprefix("tcp://").rsplit(":", 1)
with socket.create_connection((address[0], int(address[1]))) as link:
    hello = dict(lines[0], token=os.environ["LABDECK_RUN_TOKEN"])
    for message in [hello, *lines[1:]]:
        link.sendall(json.dumps(message).encode() + b"\\n")
"""


def link_script(block: Block) -> str:
    """A script that writes the block's messages to its run's link, its own token in the hello."""
    lines = [json.loads(line) for line in block.code.splitlines() if line.strip()]
    return LINK_SCRIPT.format(lines=json.dumps(lines))


def run_link(block: Block, entry: Run, where: Where) -> None:
    """Run :func:`link_script` of the block through the runner; the run must have stored the
    points and results the messages carry."""
    run = run_script(block, entry, where)
    lab = where.lab()
    stored = _get_json(lab, f"api/runs/{run}")
    series = _get_json(lab, f"api/runs/{run}/data")["series"]
    for message in map(json.loads, block.code.splitlines()):
        if message["op"] == "plot":
            got = series.get(message["series"], {})
            assert (got.get("x"), got.get("y")) == (message["x"], message["y"]), f"{block.where}: stored {got}"
        elif message["op"] == "result":
            assert stored["results"][message["key"]] == message["value"], f"{block.where}: stored {stored}"


def run_reply(block: Block, entry: Run, where: Where) -> None:
    """Send the request ``entry.setup`` to the lab: its reply must be the block, a ``<...>``
    in it standing for any value."""
    lab = where.lab()
    request = json.loads(entry.setup)
    want = json.loads(re.sub(r"<[^<>\n]+>", '"<any>"', block.code))

    async def exchange() -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.ws_connect(lab.url + "ws") as ws:
            await ws.send_str(json.dumps(request))
            return await asyncio.wait_for(_reply(ws, request["id"]), scaled(10))

    got = run_async(exchange())
    assert got.keys() == want.keys() and all(want[k] in ("<any>", got[k]) for k in want), (
        f"{block.where}: {request} is answered {got}")


def run_dir(block: Block, entry: Run, where: Where) -> None:
    """Ask the lab ``dir`` of the block's ``path`` (an object the lab exposes from the same
    page): every member and field the block shows must be in the answer, as shown."""
    lab = where.lab()
    shown = json.loads(block.code)
    with SyncClient(lab.url.replace("http", "ws", 1) + "ws") as deck:
        answer = deck.dir(shown["path"])
    problem = _unlike(shown, answer, "dir")
    assert problem is None, f"{block.where}: {problem}\nthe server answers {json.dumps(answer, ensure_ascii=False)}"


def _unlike(shown: Any, real: Any, where: str) -> str | None:
    """Where ``real`` differs from what the docs show: ``"..."`` stands for anything and
    ``"text ..."`` for a text that begins so; a list of named members is matched by name;
    a dotted type name is matched by its last part (the docs' module is not the test's)."""
    if isinstance(shown, dict) and isinstance(real, dict):
        for key, value in shown.items():
            if key not in real:
                return f"{where}: no {key!r}"
            if (problem := _unlike(value, real[key], f"{where}.{key}")) is not None:
                return problem
        return None
    if isinstance(shown, list) and shown and all(isinstance(m, dict) and "name" in m for m in shown):
        named = {m.get("name"): m for m in real if isinstance(m, dict)} if isinstance(real, list) else {}
        for member in shown:
            if member["name"] not in named:
                return f"{where}: no member {member['name']!r}"
            if (problem := _unlike(member, named[member["name"]], f"{where}[{member['name']}]")) is not None:
                return problem
        return None
    if isinstance(shown, str) and isinstance(real, str):
        if shown == "..." or (shown.endswith(" ...") and real.startswith(shown[:-4])):
            return None
        if "." in shown and not shown.endswith("...") and real.rsplit(".", 1)[-1] == shown.rsplit(".", 1)[-1]:
            return None
    return None if shown == real else f"{where}: shown {shown!r}, is {real!r}"


def _get_json(lab: Lab, path: str) -> Any:
    request = urllib.request.Request(lab.url + path, headers={"Authorization": f"Bearer {lab.token}"})
    with urllib.request.urlopen(request, timeout=scaled(10)) as reply:
        return json.load(reply)


def run_config(block: Block, entry: Run, where: Where) -> None:
    """Load the block as ``labdeck.toml`` into a Deck, start it on loopback, ask ``/healthz``.
    Modules among ``entry.files`` import from the project folder, as ``labdeck serve``
    imports them from the config's folder."""

    async def serve(deck: Deck) -> None:
        await deck.start()
        try:
            async with aiohttp.ClientSession() as http, http.get(deck.url + "healthz") as reply:
                assert reply.status == 200, f"{block.where}: /healthz answered {reply.status}"
        finally:
            await deck.stop()

    project = where.folder / "project"
    packages = {Path(name).parts[0].removesuffix(".py") for name in entry.files if name.endswith(".py")}
    sys.path.insert(0, str(project))
    try:
        run_async(serve(_deck_of(block, entry, where)))
    finally:
        sys.path.remove(str(project))
        for name in [m for m in sys.modules if m.split(".")[0] in packages]:
            del sys.modules[name]


def run_maintenance(block: Block, entry: Run, where: Where) -> None:
    """Put the block in a new server's data folder as its ``maintenance`` file: the API must
    answer 503 with ``Retry-After`` and the block's message."""
    data = where.folder / "data"
    data.mkdir()
    (data / "maintenance").write_text(block.code, encoding="utf-8")
    deck = Deck(load_config(None, env={}, overrides={"server.port": 0, "server.data": str(data)}))
    message = block.code.splitlines()[-1]

    async def ask() -> None:
        await deck.start()
        try:
            async with aiohttp.ClientSession() as http, http.get(deck.url + "api/runs") as reply:
                body = await reply.text()
                assert reply.status == 503 and "Retry-After" in reply.headers, f"{block.where}: {reply.status}"
                assert message in body, f"{block.where}: the answer does not say {message!r}: {body}"
        finally:
            await deck.stop()

    run_async(ask())


def load_config_only(block: Block, entry: Run, where: Where) -> None:
    """Load the block into a Deck (every key checked) without starting it: for a config that
    names the lab's own hosts, which a test cannot reach."""
    _deck_of(block, entry, where)


def _deck_of(block: Block, entry: Run, where: Where) -> Deck:
    project = where.folder / "project"
    project.mkdir()
    where.lay_out(entry, project)
    (project / "labdeck.toml").write_text(block.code, encoding="utf-8")
    overrides = {"server.port": 0, "server.host": "127.0.0.1", "server.data": str(where.folder / "data")}
    return Deck(load_config(project / "labdeck.toml", env={}, overrides=overrides))


def run_program(block: Block, entry: Run, where: Where) -> None:
    """Run the block as ``program.py`` beside ``entry.files``; it must serve until Ctrl-C."""
    where.lay_out(entry, where.folder)
    (where.folder / "program.py").write_text(block.code, encoding="utf-8")
    serve_until_ctrl_c(block, [sys.executable, "program.py"], where.folder)


def run_tutorial_serve(block: Block, entry: Run, where: Where) -> None:
    """``cd myexp`` then ``labdeck serve``, in the project step 2 lays out."""
    from tests.test_docs_blocks import tutorial_project

    project = tutorial_project(where.folder)
    assert block.code.split() == ["cd", "myexp", "labdeck", "serve"], f"{block.where}: not the commands run here"
    serve_until_ctrl_c(block, [sys.executable, "-m", "labdeck", "serve"], project)


def serve_until_ctrl_c(block: Block, argv: list[str], cwd: Path) -> None:
    """Start ``argv``, wait for ``/healthz`` on its port, then Ctrl-C it: it must exit 0."""
    port = free_port()
    out = (cwd / "output.txt").open("w+", encoding="utf-8")
    proc = subprocess.Popen(argv, cwd=cwd, env=env(LABDECK_PORT=str(port)), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + scaled(30)
        while not _healthy(port):
            assert proc.poll() is None, f"{block.where}: exited {proc.returncode} before serving"
            assert time.monotonic() < deadline, f"{block.where}: no /healthz on port {port}"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=scaled(20)) == 0, f"{block.where}: Ctrl-C exited {proc.returncode}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.seek(0)
        output = out.read()
        out.close()
        print(output)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=scaled(2)) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


CURL = 'curl() { command curl -sS --fail-with-body "$@"; echo; }\n'
SAME_HEADERS = ' -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" '


def run_curl(block: Block, entry: Run, where: Where) -> None:
    """Issue the block's ``curl`` commands against the lab, ``$TOKEN`` an admin token; a
    ``...`` stands for the headers of the command above."""
    lab = where.lab()
    code = lab.at_lab(block.code).replace(" ... ", SAME_HEADERS)
    done = subprocess.run(["bash", "-euc", CURL + code], env=env(TOKEN=lab.token), capture_output=True, text=True,
                          timeout=scaled(30))
    assert done.returncode == 0, f"{block.where}: {done.stdout}{done.stderr}"


def run_shell(block: Block, entry: Run, where: Where) -> None:
    """Run the block in bash in a project folder (``labdeck.toml`` with its data beside it),
    ``labdeck`` being this source tree's, every line required to succeed."""
    project, variables = _shell_project(entry, where)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], cwd=project, env=variables, input=entry.stdin,
                          capture_output=True, text=True, timeout=scaled(60), start_new_session=True)
    assert done.returncode == 0, f"{block.where}: exit {done.returncode}\n{done.stdout}{done.stderr}"


def _shell_project(entry: Run, where: Where) -> tuple[Path, dict[str, str]]:
    """A project folder with ``entry.files``, and an environment whose ``labdeck`` is this
    source tree's and, like the installed command, puts no folder on ``sys.path`` by itself
    (``python -P``): what a block's command imports beside it, labdeck finds on its own."""
    bin_dir = where.folder / "bin"
    bin_dir.mkdir()
    (bin_dir / "labdeck").write_text(f'#!/bin/sh\nexec "{sys.executable}" -P -m labdeck "$@"\n', encoding="utf-8")
    (bin_dir / "labdeck").chmod(0o755)
    project = where.folder / "project"
    project.mkdir()
    (project / "labdeck.toml").write_text('[server]\ndata = "data"\n', encoding="utf-8")
    where.lay_out(entry, project)
    return project, env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PASSWORD="a password for the docs")


def run_rig_serve(block: Block, entry: Run, where: Where) -> None:
    """Run the block's ``labdeck rig serve`` on a loopback port instead of the lab's address,
    ask the rig ``init`` and check ``entry.expect`` is its answer, then Ctrl-C it."""
    from labdeck.rigs import Rig

    project, variables = _shell_project(entry, where)
    code = re.sub(r"\b0\.0\.0\.0:\d+", "127.0.0.1:0", block.code)
    with subprocess.Popen(["bash", "-euc", code], cwd=project, env=variables, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            words = proc.stdout.readline().split()
            assert len(words) > 2, f"{block.where}: {proc.stderr.read() if proc.wait(scaled(20)) else words}"

            async def init() -> Any:
                async with Rig(words[2], "docs", timeout=scaled(5)) as rig:
                    return await rig.init()

            assert repr(run_async(init())) == entry.expect, f"{block.where}: init answered otherwise"
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)  # bash and the server it started
            code_ = proc.wait(scaled(20))
    assert code_ == 0, f"{block.where}: Ctrl-C exited {code_}"


def run_wire(block: Block, entry: Run, where: Where) -> None:
    """Send each request of the block (a line with an ``op``) to the lab's ``/ws``; each must
    be answered ``ok`` under its ``id``."""
    lab = where.lab()
    requests = [json.loads(line) for line in block.code.splitlines() if '"op"' in line]
    assert requests, f"{block.where}: no request in the block"

    async def exchange() -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(lab.url + "ws") as ws:
            for request in requests:
                await ws.send_str(json.dumps(request))
                reply = await asyncio.wait_for(_reply(ws, request["id"]), scaled(10))
                assert reply["ok"], f"{block.where}: {request} answered {reply}"

    run_async(exchange())


async def _reply(ws: aiohttp.ClientWebSocketResponse, rid: Any) -> dict[str, Any]:
    async for msg in ws:
        frame = json.loads(msg.data)
        if frame.get("id") == rid and "ok" in frame:
            return dict(frame)
    raise AssertionError(f"the connection closed before the reply to {rid}")


def run_in_chromium(block: Block, entry: Run, where: Where) -> None:
    """Run the block in a page of the lab in Chromium (a module script's body, its import of
    ``./static/deck.js`` made dynamic); the page must raise nothing and log ``entry.expect``."""
    lab = where.lab()
    code = block.code
    if block.lang == "html":
        inline = re.search(r'<script type="module">\n(.*?)</script>', code, re.S)
        assert inline is not None, f"{block.where}: no module script"
        code = inline[1]
    code = re.sub(r'^ *import \{ (\w+) \} from "\./static/deck\.js";',
                  r'const { \1 } = await import(new URL("static/deck.js", document.baseURI).href);', code, flags=re.M)
    page = where.fixture("chromium").new_page()
    try:
        page.set_default_timeout(scaled(10) * 1000)
        errors: list[str] = []
        logged: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: logged.append(msg.text))
        page.goto(lab.url + "robots.txt")
        page.evaluate(f"async () => {{\n{entry.setup}{code}\n}}")
        deadline = time.monotonic() + scaled(10)
        while not _logged(entry.expect, logged) and time.monotonic() < deadline:
            page.wait_for_timeout(50)
    finally:
        page.close()
    assert not errors, f"{block.where}: {errors}"
    assert _logged(entry.expect, logged), f"{block.where}: logged {logged}, no line {entry.expect!r}"


def run_panel(block: Block, entry: Run, where: Where) -> None:
    """Open the lab's dashboard at ``entry.setup`` (a route, ``#stage``) in Chromium, where
    the block is a panel or summary module of the lab's capability; press its button when it
    has one; the element of the block's ``data-testid`` must then read ``entry.expect`` (a
    regular expression)."""
    from playwright.sync_api import expect

    testid = re.search(r'dataset\.testid = "([\w-]+)"', block.code)
    assert testid is not None, f"{block.where}: the module marks no element with a data-testid"
    button = re.search(r'\.textContent = "(\w+)";\n.*addEventListener\("click"', block.code, re.S)
    page = where.fixture("chromium").new_page()
    try:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(where.lab().url + entry.setup)
        if button is not None:
            page.get_by_role("button", name=button[1], exact=True).click(timeout=scaled(10) * 1000)
        expect(page.get_by_test_id(testid[1])).to_have_text(re.compile(entry.expect), timeout=scaled(10) * 1000)
    finally:
        page.close()
    assert not errors, f"{block.where}: {errors}"


def _logged(expect: str, lines: list[str]) -> bool:
    """Whether a line of ``lines`` is all of the regular expression ``expect`` (none needed
    when it is empty)."""
    return not expect or any(re.fullmatch(expect, line) for line in lines)


RUNNERS: dict[str, Callable[[Block, Run, Where], object]] = {
    "python": run_python,
    "script": run_script,
    "config": run_config,
    "load": load_config_only,
    "maintenance": run_maintenance,
    "program": run_program,
    "tutorial-serve": run_tutorial_serve,
    "curl": run_curl,
    "sh": run_shell,
    "rig-serve": run_rig_serve,
    "wire": run_wire,
    "reply": run_reply,
    "dir": run_dir,
    "link": run_link,
    "chromium": run_in_chromium,
    "panel": run_panel,
}
LANGS = {
    "python": {"python"}, "script": {"python"}, "program": {"python"},
    "config": {"toml"}, "load": {"toml"},
    "tutorial-serve": {"sh"}, "sh": {"sh"}, "rig-serve": {"sh"}, "curl": {"", "sh"}, "link": {""}, "maintenance": {""},
    "wire": {"json"}, "reply": {"json"}, "dir": {"json"},
    "chromium": {"js", "html"}, "panel": {"js"},
}
"""The block languages each runner takes: a table entry gone stale names another block."""
