"""Every code block of the README and the docs, as a reader would use it.

Each fenced block is checked by its language: Python compiles (and the tutorial's programs
run, below), TOML parses and a labdeck config in it loads (an unknown key fails), JSON
parses, JavaScript passes ``node --check``, and each ``labdeck ...`` or ``./dev.sh ...``
line of a shell block is a command the CLI or dev.sh takes. The tutorial's step 2 script
and step 3 program run for real against a project laid out as the tutorial says.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest

from labdeck.cli import build_parser
from labdeck.config import load_config
from labdeck.exceptions import ConfigError
from tests.helpers import scaled

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^( *)```(\w*)[^\n]*\n(.*?)^\1```", re.S | re.M)
CORE_SECTIONS = {"server", "scripts", "run", "objects", "broker", "store", "auth", "tls", "pages", "watch", "rigs"}


def blocks(lang: str) -> list[tuple[str, str]]:
    """``(where, code)`` of every block in ``lang`` on every page."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m[2] == lang:
                line = text[: m.start()].count("\n") + 1
                code = "\n".join(row[len(m[1]):] for row in m[3].splitlines())
                found.append((f"{page.relative_to(ROOT)}:{line}", code))
    return found


def ids(items: list[tuple[str, str]]) -> list[str]:
    return [where for where, _ in items]


def test_the_pages_have_blocks_to_check() -> None:
    assert len(blocks("python")) > 10 and blocks("toml") and blocks("sh")


@pytest.mark.parametrize(("where", "code"), blocks("python"), ids=ids(blocks("python")))
def test_python_blocks_compile(where: str, code: str) -> None:
    compile(code, where, "exec")


@pytest.mark.parametrize(("where", "code"), blocks("toml"), ids=ids(blocks("toml")))
def test_toml_blocks_parse_and_configs_load(where: str, code: str, tmp_path: Path) -> None:
    try:
        data = tomllib.loads(code)
    except tomllib.TOMLDecodeError as exc:
        pytest.fail(f"{where}: not TOML: {exc}")
    if not data or not set(data) <= CORE_SECTIONS or "[project]" in code:
        return  # a script's run configuration, a pyproject.toml, a capability's own section
    config = tmp_path / "labdeck.toml"
    config.write_text(code, encoding="utf-8")
    try:
        load_config(config, env={})
    except ConfigError as exc:
        if "is not installed" in str(exc) or ("non-loopback" in str(exc) and "auth" not in data):
            return  # a fragment meant beside other sections
        pytest.fail(f"{where}: {exc}")


PLACEHOLDER = re.compile(r"<[^<>\n]+>|\.\.\.")
"""What the protocol pages write for "any value here": ``<any JSON value>``, ``[...]``."""


@pytest.mark.parametrize(("where", "code"), blocks("json"), ids=ids(blocks("json")))
def test_json_blocks_parse(where: str, code: str) -> None:
    text = PLACEHOLDER.sub("null", code)
    try:
        json.loads(text)
    except json.JSONDecodeError:  # JSON lines: one message per line
        for line in text.splitlines():
            if line.strip():
                json.loads(line)


@pytest.mark.parametrize(("where", "code"), blocks("js"), ids=ids(blocks("js")))
def test_javascript_blocks_are_javascript(where: str, code: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to check the docs' JavaScript (the dashboard's build needs it too)")
    wrapped = tmp_path / "block.mjs"
    # A block may be a fragment of a panel's mount(): give it the names it uses, in an async body.
    wrapped.write_text(f"async function block(ctx, deck, section, card) {{\n{code}\n}}\n", encoding="utf-8")
    if code.lstrip().startswith(("import ", "export ")):
        wrapped.write_text(code, encoding="utf-8")
    result = subprocess.run([node, "--check", str(wrapped)], capture_output=True, text=True, timeout=scaled(20))
    assert result.returncode == 0, f"{where}: {result.stderr}"


def _dev_chores() -> set[str]:
    text = (ROOT / "dev.sh").read_text(encoding="utf-8")
    return {name for group in re.findall(r"^    ([a-z|-]+)\)$", text, re.M) for name in group.split("|")}


@pytest.mark.parametrize(("where", "code"), blocks("sh"), ids=ids(blocks("sh")))
def test_shell_blocks_name_real_commands(where: str, code: str) -> None:
    parser = build_parser()
    chores = _dev_chores()
    for line in code.replace("\\\n", " ").splitlines():  # continuation lines joined
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        for stop in (">", ">>", "<", "|", "&&", ";", "2>"):  # the command, not its redirections
            if stop in words:
                words = words[: words.index(stop)]
        prog = Path(words[0]).name
        if prog == "labdeck":
            try:
                parser.parse_args(words[1:])
            except SystemExit as exc:
                assert exc.code == 0, f"{where}: `{line}` is not a labdeck command line"
        elif words[0] == "./dev.sh":
            assert len(words) == 1 or words[1] in chores, f"{where}: ./dev.sh has no chore {words[1]!r}"


# -- the tutorial, followed literally ---------------------------------------------------

TUTORIAL = ROOT / "docs" / "tutorial.md"


def tutorial_project(folder: Path) -> Path:
    """``myexp/`` as step 2 lays it out, from the page's own blocks; step 3's ``lab.py`` too."""
    text = TUTORIAL.read_text(encoding="utf-8")
    found = dict(re.findall(r"^`([\w/.]+)`[^\n]*:\n\n```\w+\n(.*?)```", text, re.S | re.M))
    project = folder / "myexp"
    for name in ("labdeck.toml", "run_config.toml", "scripts/main.py"):
        assert name in found, f"the tutorial no longer shows {name}"
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(found[name], encoding="utf-8")
    lab = re.search(r"Save it as\n`myexp/lab.py`:\n\n```python\n(.*?)```", text, re.S)
    assert lab is not None, "the tutorial's step 3 program is not where this test looks"
    (project / "lab.py").write_text(lab[1], encoding="utf-8")
    return project


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_")}
    env.update(PYTHONPATH=str(ROOT / "src"), **extra)
    return env


def test_the_tutorials_script_runs_by_hand(tmp_path: Path) -> None:
    project = tutorial_project(tmp_path)
    (project / "run_config.toml").write_text("trials = 3\nisi = 0.0\n", encoding="utf-8")  # quick
    done = subprocess.run([sys.executable, "scripts/main.py"], cwd=project, env=_env(), capture_output=True,
                          text=True, timeout=scaled(30))
    assert done.returncode == 0, done.stderr
    assert "starting 3 trials" in done.stdout and "[plot reaction time]" in done.stdout
    assert "[result] mean_rt = 0.45" in done.stdout


def test_the_tutorials_program_keeps_serving_until_ctrl_c(tmp_path: Path) -> None:
    project = tutorial_project(tmp_path)
    proc = subprocess.Popen([sys.executable, "lab.py"], cwd=project, env=_env(LABDECK_PORT="0"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"serving (http://\S+)", line)
        assert url, line
        with urllib.request.urlopen(url[1] + "healthz", timeout=scaled(10)) as reply:
            assert reply.status == 200
        with urllib.request.urlopen(url[1] + "api/panels", timeout=scaled(10)) as reply:
            assert any(p["id"] == "objects" for p in json.load(reply)["panels"])
        assert proc.poll() is None  # still serving
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=scaled(20)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
