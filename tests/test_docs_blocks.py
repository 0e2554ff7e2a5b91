"""Every code block of the README and the docs, as a reader would use it.

``EXERCISE`` below names every fenced block (``page#n``, the page's n-th block from 0) and
says how it is exercised: run for real here (``Run``, by a runner of
``tests/docs/runners.py`` against real servers on loopback), run by another test
(``Covered``, whose node ids must exist), or not at all, for a reason (``Skip``). A block
without an entry fails ``test_every_block_is_exercised`` with the line to add.

Beside that, each block is checked by its language: Python compiles, TOML parses and a
labdeck config in it loads (an unknown key fails), JSON parses, JavaScript passes ``node
--check``, and each ``labdeck ...`` or ``./dev.sh ...`` line of a shell block is a command
the CLI or dev.sh takes. The tutorial's step 2 script and step 3 program run for real
against a project laid out as the tutorial says.
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
import types
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

import labdeck
from labdeck.cli import build_parser
from labdeck.config import load_config
from labdeck.exceptions import ConfigError
from tests.browser.conftest import launch_chromium
from tests.docs.blocks import ROOT, Covered, Entry, Run, Skip, all_blocks, missing_test
from tests.docs.runners import LANGS, RUNNERS, Lab, Where, link_script, script_name, start_lab, stop_lab
from tests.helpers import scaled
from tests.test_capabilities import forget_installed, howto_files, install

CORE_SECTIONS = {"server", "scripts", "run", "objects", "broker", "store", "auth", "tls", "pages", "watch", "rigs"}

TUTORIAL_TESTS = ("tests/test_docs_blocks.py::test_the_tutorials_script_runs_by_hand",
                  "tests/test_docs_blocks.py::test_the_tutorials_program_keeps_serving_until_ctrl_c")
STAGE = "tests/test_capabilities.py::test_it_appears_in_objects_rest_api_openapi_and_panels"
STIMULUS_PAGE = "tests/browser/test_pages_howtos.py::test_the_stimulus_control_page"
FEEDBACK_PAGE = "tests/browser/test_pages_howtos.py::test_the_participant_feedback_display"
WISPY = "tests/browser/test_wispy_project.py::test_proxies_get_set_call_delete_and_channels"
RTCLOUD = "tests/compat/test_rtcloud_project.py::test_the_sample_runs_under_the_runner_while_the_scanner_writes"
IBLUTIL = "tests/compat/test_iblutil_project.py::test_the_project_with_only_its_import_changed_gives_the_same_answers"
AWE = "tests/compat/test_awe_project.py::test_the_page_class_serves_its_defaults_and_escapes_a_hostile_argument"
CONTAINER = "tests/test_container.py::test_the_image_builds_runs_unprivileged_and_turns_healthy"
CONFORMANCE = "tests/conformance/test_conformance.py::test_labdeck_passes_every_check"
REMOTE_RIGS = "tests/rigs/test_remote.py::test_rigs_named_with_rig_are_driven_and_all_answering_exits_0"
MYLAB = {"mylab/__init__.py": "", "mylab/stimulus.py": "settings = {'contrast': 0.5}\n"}
SCRIPTS = {"scripts/init.py": "", "scripts/main.py": "", "scripts/finalize.py": ""}
DIAGRAM = "a drawing, not code"
DICOM_GUIDE = ("tests/compat/test_dicom_broadcaster_guide.py::"
               "test_the_guides_section_flags_a_tr_changed_halfway_and_knows_the_file_names")

EXERCISE: dict[str, Entry] = {
    "README.md#0": Skip("dev.sh's chores make a virtualenv and install packages (`test` is the whole suite); "
                        "their names are checked against dev.sh by test_shell_blocks_name_real_commands"),
    "README.md#1": Covered(
        "tests/browser/test_installed_wheel.py::test_the_installed_wheel_serves_a_dashboard_that_plots"),
    "README.md#2": Skip("pipx installs into the user's own folders; the same wheel in a virtualenv is README.md#1"),
    "README.md#3": Covered(CONTAINER),
    "README.md#4": Covered("tests/test_cli.py::test_the_demo_keeps_its_data_in_one_folder_and_fresh_starts_clean",
                           "tests/test_cli.py::test_labdeck_serve_answers_healthz_and_exits_cleanly_on_sigint",
                           "tests/test_cli.py::test_version"),
    "README.md#5": Run("config", files=SCRIPTS),
    "README.md#6": Run("program", files={"labdeck.toml": "README.md#5", **SCRIPTS}),
    "docs/howto/administer.md#0": Run("curl"),
    "docs/howto/administer.md#1": Run("curl"),
    "docs/howto/administer.md#2": Run("curl"),
    "docs/howto/administer.md#3": Run("maintenance"),
    "docs/howto/build-a-stimulus-page.md#0": Covered(STIMULUS_PAGE),
    "docs/howto/build-a-stimulus-page.md#1": Covered(STIMULUS_PAGE),
    "docs/howto/build-a-stimulus-page.md#2": Run("script"),
    "docs/howto/build-a-stimulus-page.md#3": Covered(STIMULUS_PAGE),
    "docs/howto/build-a-stimulus-page.md#4": Covered(FEEDBACK_PAGE),  # its page loads them so
    "docs/howto/deploy.md#0": Run("config"),
    "docs/howto/deploy.md#1": Run("sh", stdin="a first password\na first password\n"),
    "docs/howto/deploy.md#2": Run("sh"),
    "docs/howto/deploy.md#3": Run("curl"),
    "docs/howto/deploy.md#4": Run("sh"),
    "docs/howto/deploy.md#5": Covered(
        "tests/conformance/test_conformance.py::test_over_tls_with_the_servers_certificate_trusted"),
    "docs/howto/deploy.md#6": Covered(CONTAINER),
    "docs/howto/deploy.md#7": Run("config"),
    "docs/howto/drive-rigs.md#0": Run("load"),  # its rigs are the lab's; tests stay on loopback
    "docs/howto/drive-rigs.md#1": Run("rig-serve", files={"myrig.py": "docs/howto/drive-rigs.md#2"},
                                      expect="{'fps': 60}"),
    "docs/howto/drive-rigs.md#2": Run("python"),
    "docs/howto/drive-rigs.md#3": Covered(REMOTE_RIGS),
    "docs/howto/drive-rigs.md#4": Covered(
        "tests/runner/test_script_rigs.py::test_a_main_script_drives_the_project_rigs"),
    "docs/howto/drive-rigs.md#5": Covered("tests/rigs/test_tls.py::test_labdeck_rig_serve_tls_serves_its_certificate"),
    "docs/howto/drive-rigs.md#6": Covered(
        "tests/rigs/test_tls.py::test_a_group_reaches_a_tls_rig_whose_certificate_it_trusts"),
    "docs/howto/expose-objects.md#0": Covered(
        "tests/objects/test_docs_example.py::test_the_example_works_as_described"),
    "docs/howto/expose-objects.md#1": Run("config", files=MYLAB),
    "docs/howto/expose-objects.md#2": Run("chromium", expect=r"InvalidArguments laser\.test_sum\(a: float, .*"),
    "docs/howto/expose-objects.md#3": Run("dir"),
    "docs/howto/migrate-awe.md#0": Run("python"),
    "docs/howto/migrate-awe.md#1": Covered(AWE),
    "docs/howto/migrate-awe.md#2": Covered(AWE),
    "docs/howto/migrate-dicom-broadcaster.md#0": Covered(
        DICOM_GUIDE),
    "docs/howto/migrate-dicom-broadcaster.md#1": Covered(
        "tests/watch/test_stations.py::test_dicom_import_learns_references_and_resumes",
        "tests/test_cli.py::test_labdeck_serve_answers_healthz_and_exits_cleanly_on_sigint"),
    "docs/howto/migrate-iblutil.md#0": Run("python"),
    "docs/howto/migrate-iblutil.md#1": Covered(IBLUTIL),
    "docs/howto/migrate-iblutil.md#2": Covered(IBLUTIL),
    "docs/howto/migrate-rtcloud.md#0": Run("python"),
    "docs/howto/migrate-rtcloud.md#1": Covered(RTCLOUD),
    "docs/howto/migrate-rtcloud.md#2": Covered(RTCLOUD),
    "docs/howto/migrate-rtcloud.md#3": Covered(RTCLOUD),
    "docs/howto/migrate-rtcloud.md#4": Covered(
        "tests/browser/test_rtcloud_feedback.py::test_the_participant_sees_each_result_of_the_sample"),
    "docs/howto/migrate-wispy.md#0": Run("python"),
    "docs/howto/migrate-wispy.md#1": Covered(WISPY),
    "docs/howto/migrate-wispy.md#2": Covered(
        WISPY, "tests/compat/test_wispy_config.py::"
               "test_the_migration_guide_shows_the_project_that_the_browser_tests_run"),
    "docs/howto/migrate-wispy.md#3": Covered(WISPY),
    "docs/howto/migrate-wispy.md#4": Covered(WISPY),
    "docs/howto/participant-feedback.md#0": Run("script"),
    "docs/howto/participant-feedback.md#1": Covered(FEEDBACK_PAGE),
    "docs/howto/participant-feedback.md#2": Covered(FEEDBACK_PAGE),
    "docs/howto/remote-agent.md#0": Run("sh"),
    "docs/howto/remote-agent.md#1": Covered(
        "tests/watch/test_agent.py::test_an_agent_connects_over_wss_trusting_the_labs_own_certificate"),
    "docs/howto/run-scripts.md#0": Run("config", files={"scripts/init.py": "", "scripts/main.py": "",
                                                        "scripts/finalize.py": "", "rig/acq": ""}),
    "docs/howto/run-scripts.md#1": Run("script", expect="subject None"),
    "docs/howto/run-scripts.md#2": Run("script", setup="from labdeck import script\ntr, dx, dy = 3, 0.25, -0.5\n"),
    "docs/howto/run-scripts.md#3": Run("link"),
    "docs/howto/run-scripts.md#4": Run("curl"),
    "docs/howto/scale-out.md#0": Run("config"),
    "docs/howto/scale-out.md#1": Covered(
        "tests/scaleout/test_processes.py::test_workers_share_one_port_and_their_channels"),
    "docs/howto/scale-out.md#2": Skip("a systemd unit: systemd runs it on the lab's server"),
    "docs/howto/scale-out.md#3": Skip("nginx's own configuration, for nginx in front of the servers"),
    "docs/howto/scale-out.md#4": Run("config"),
    "docs/howto/scale-out.md#5": Skip(
        "docker compose with Redis, two servers and nginx; the image alone is README.md#3"),
    "docs/howto/scale-out.md#6": Run("load"),
    "docs/howto/watch-folders.md#0": Run("config", files={"data/rig/.keep": ""}),
    "docs/howto/watch-folders.md#1": Run("config"),
    "docs/howto/watch-folders.md#2": Covered(
        DICOM_GUIDE),
    "docs/howto/watch-folders.md#3": Covered(
        "tests/watch/test_stations.py::test_dicom_import_learns_references_and_resumes"),
    "docs/howto/watch-folders.md#4": Covered(
        "tests/watch/test_sessions_reports.py::test_refs_import_and_export_on_the_command_line"),
    "docs/howto/watch-folders.md#5": Covered(
        "tests/watch/test_sessions_reports.py::test_refs_import_and_export_on_the_command_line"),
    "docs/howto/watch-folders.md#6": Run("config"),
    "docs/howto/watch-folders.md#7": Run("sh"),
    "docs/howto/write-a-capability.md#0": Covered(STAGE),
    "docs/howto/write-a-capability.md#1": Covered(STAGE),
    "docs/howto/write-a-capability.md#2": Covered(STAGE),
    "docs/howto/write-a-capability.md#3": Run("panel", setup="#stage", expect="position: 10.00 mm"),
    "docs/howto/write-a-capability.md#4": Run("panel", setup="#overview", expect=r"\d+\.\d mm"),
    "docs/howto/write-a-capability.md#5": Covered(
        "tests/test_capabilities.py::test_labdeck_serve_finds_it_as_installed"),
    "docs/howto/write-a-capability.md#6": Covered(
        "tests/test_capabilities.py::test_its_section_is_decoded_with_its_type"),
    "docs/howto/write-a-capability.md#7": Run("python", setup="from labdeck.capability import Capability\n"),
    "docs/reference/cli.md#0": Covered(REMOTE_RIGS),
    "docs/reference/components.md#0": Covered(STIMULUS_PAGE),
    "docs/reference/components.md#1": Covered(
        "tests/browser/test_components.py::test_a_page_of_components_drives_exposed_objects"),
    "docs/reference/config.md#0": Covered("tests/test_cli.py::test_serve_with_an_unknown_key_exits_2_with_one_line"),
    "docs/reference/config.md#1": Run(
        "config", files={"scripts/init.py": "", "scripts/main.py": "", "rig/acquire": ""}),
    "docs/reference/config.md#2": Run("config", files={"stimuli/.keep": ""}),
    "docs/reference/config.md#3": Run("config", files={"pages/stimulus/index.html": "<p>${title}</p>\n",
                                                       "data/raw/run1.csv": "x,y\n"}),
    "docs/reference/config.md#4": Run("config", files=MYLAB),
    "docs/reference/config.md#5": Run("config"),
    "docs/reference/javascript-client.md#0": Run("chromium", expect="9"),
    "docs/reference/javascript-client.md#1": Run(
        "chromium", setup='const { connect } = await import("/static/deck.js");\nconst deck = connect();\n'),
    "docs/reference/panels.md#0": Run("python", setup="from pathlib import Path\n"
                                                      "from labdeck.capability import Capability, Panel\n"
                                                      "__file__ = 'stage.py'\n"),
    "docs/reference/panels.md#1": Covered(STAGE),
    "docs/reference/panels.md#2": Covered("tests/browser/test_shell.py::test_shown_and_hidden_hooks_follow_the_route"),
    "docs/reference/panels.md#3": Run("python", setup="from labdeck.capability import Panel\n"),
    "docs/reference/panels.md#4": Covered(
        "tests/browser/test_prefs.py::test_choices_follow_the_user_to_another_browser_and_not_to_another_user"),
    "docs/reference/python-client.md#0": Covered("tests/client/test_docs_examples.py::test_the_reference_examples"),
    "docs/reference/python-client.md#1": Covered("tests/client/test_docs_examples.py::test_the_reference_examples"),
    "docs/reference/python-client.md#2": Covered("tests/client/test_docs_examples.py::test_the_reference_examples"),
    "docs/topics/architecture.md#0": Skip(DIAGRAM),
    "docs/topics/protocol.md#0": Run("reply", setup='{"id": 1, "op": "channels"}'),
    "docs/topics/protocol.md#1": Run("reply", setup='{"id": 1, "op": "pub", "ch": "run/log", "data": "hello"}'),
    "docs/topics/protocol.md#2": Run("wire"),
    "docs/topics/protocol.md#3": Run("wire"),
    "docs/topics/protocol.md#4": Run("wire"),
    "docs/topics/protocol.md#5": Run("wire"),
    "docs/topics/protocol.md#6": Run("wire"),
    "docs/topics/protocol.md#7": Run("wire"),
    "docs/topics/protocol.md#8": Covered(CONFORMANCE),
    "docs/topics/protocol.md#9": Covered(CONFORMANCE),
    "docs/topics/protocol.md#10": Covered(CONFORMANCE),
    "docs/topics/protocol.md#11": Covered(CONFORMANCE),
    "docs/topics/protocol.md#12": Covered("tests/client/test_docs_examples.py::test_the_protocol_pages_examples"),
    "docs/topics/protocol.md#13": Covered("tests/client/test_docs_examples.py::test_the_protocol_pages_examples"),
    "docs/topics/rig-protocol.md#0": Skip(DIAGRAM),
    "docs/topics/security.md#0": Covered("tests/auth/test_docs_example.py::test_the_security_pages_example_runs"),
    "docs/tutorial.md#0": Covered(
        "tests/test_cli.py::test_the_demo_keeps_its_data_in_one_folder_and_fresh_starts_clean"),
    "docs/tutorial.md#1": Covered(*TUTORIAL_TESTS),
    "docs/tutorial.md#2": Covered(*TUTORIAL_TESTS),
    "docs/tutorial.md#3": Covered(*TUTORIAL_TESTS),
    "docs/tutorial.md#4": Run("script", config={"trials": 3, "isi": 0.01}, expect="starting 3 trials"),
    "docs/tutorial.md#5": Run("tutorial-serve"),
    "docs/tutorial.md#6": Covered(TUTORIAL_TESTS[1]),
    "docs/tutorial.md#7": Covered(TUTORIAL_TESTS[1]),
}
"""How each block of the docs is exercised, by name (see ``tests/docs/blocks.py``)."""
BLOCKS = all_blocks()


def entries(kind: type[Entry]) -> list[tuple[str, Entry]]:
    return [(name, entry) for name, entry in EXERCISE.items() if isinstance(entry, kind)]


def test_every_block_is_exercised() -> None:
    missing = [name for name in BLOCKS if name not in EXERCISE]
    assert not missing, (
        "blocks of the docs that no test exercises; add each to EXERCISE in tests/test_docs_blocks.py as\n"
        '  "page#n": Run("<runner>") (one of tests/docs/runners.py RUNNERS), Covered("tests/...::test_x") '
        'or Skip("why no test can run it"):\n' + "\n".join(f"  {name} ({BLOCKS[name].where})" for name in missing))


def test_every_entry_names_a_block_of_its_runners_language() -> None:
    gone = [name for name in EXERCISE if name not in BLOCKS]
    assert not gone, f"EXERCISE names blocks the docs no longer have (renumber after a block moved): {gone}"
    for name, entry in entries(Run):
        assert isinstance(entry, Run) and entry.how in RUNNERS, f"{name}: no runner {entry}"
        assert BLOCKS[name].lang in LANGS[entry.how], f"{name} is {BLOCKS[name].lang!r}, not for {entry.how}"


@pytest.mark.parametrize(("name", "entry"), entries(Covered), ids=[name for name, _ in entries(Covered)])
def test_a_covered_block_names_tests_that_exist(name: str, entry: Covered) -> None:
    assert entry.tests
    for node_id in entry.tests:
        problem = missing_test(node_id)
        assert problem is None, f"{name}: {problem}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    scripts = {}
    for name, entry in entries(Run):
        if isinstance(entry, Run) and entry.how == "script":
            scripts[script_name(BLOCKS[name])] = entry.setup + BLOCKS[name].code
        elif isinstance(entry, Run) and entry.how == "link":
            scripts[script_name(BLOCKS[name])] = link_script(BLOCKS[name])
    example = types.ModuleType("expose_objects_example")  # its objects, for its JavaScript
    sys.modules[example.__name__] = example
    site = tmp_path_factory.mktemp("site")  # the capability how-to's package, installed, for its panel
    stage = howto_files()
    install(site, stage, tomllib.loads(stage["pyproject.toml"])["project"])
    sys.path.insert(0, str(site))
    forget_installed()
    try:
        exec(compile(BLOCKS["docs/howto/expose-objects.md#0"].code, "expose-objects.md", "exec"), example.__dict__)
        objects = {"stimulus": (example.Stimulus(), None),
                   "laser": (example.Laser(), labdeck.Policy(read_only=["serial_number"]))}
        shared = start_lab(tmp_path_factory.mktemp("lab"), scripts, objects, stage["labdeck.toml"])
        try:
            yield shared
        finally:
            stop_lab(shared)
    finally:
        del sys.modules[example.__name__]
        sys.path.remove(str(site))
        forget_installed()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """The system's Chromium, as the browser tests drive it, for the blocks that run in a page."""
    with launch_chromium() as browser:
        yield browser


IN_CHROMIUM = {"chromium", "panel"}
"""Runners that drive the browser: marked ``browser`` like the browser suite."""


@pytest.mark.parametrize(("name", "entry"), [
    pytest.param(name, entry, id=name, marks=[pytest.mark.browser] if entry.how in IN_CHROMIUM else [])
    for name, entry in EXERCISE.items() if isinstance(entry, Run)
])
def test_a_block_runs(name: str, entry: Run, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    RUNNERS[entry.how](BLOCKS[name], entry, Where(tmp_path, request.getfixturevalue, BLOCKS))


def blocks(lang: str) -> list[tuple[str, str]]:
    """``(where, code)`` of every block in ``lang`` on every page."""
    return [(block.where, block.code) for block in BLOCKS.values() if block.lang == lang]


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
        while len(words) > 1 and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # PYTHONPATH=. labdeck ...
            words = words[1:]
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


def test_the_tutorial_reaches_labdeck_where_dev_sh_installs_it() -> None:
    """From a clone, the tutorial's commands need the virtualenv ``./dev.sh demo`` makes:
    the folder it names must be the one dev.sh creates and installs the command into."""
    dev = (ROOT / "dev.sh").read_text(encoding="utf-8")
    venv = re.search(r"^VENV=(\S+)$", dev, re.M)
    assert venv is not None and "exec $VENV/bin/labdeck demo" in dev
    assert tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]["labdeck"]
    text = TUTORIAL.read_text(encoding="utf-8")
    for path in (f"source {venv[1]}/bin/activate", f"{venv[1]}/bin/labdeck", f"{venv[1]}/bin/python"):
        assert path in text, f"the tutorial does not say {path}"


IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.png)\)")


def test_every_panel_screenshot_is_shown_and_every_image_shown_exists() -> None:
    shown: set[Path] = set()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for link in IMAGE.findall(page.read_text(encoding="utf-8")):
            image = (page.parent / link).resolve()
            assert image.is_file(), f"{page.relative_to(ROOT)} shows {link}, which is not there"
            shown.add(image)
    wide = sorted((ROOT / "docs" / "images").glob("*-wide.png"))
    assert wide, "no panel screenshots in docs/images (./dev.sh screenshots takes them)"
    unshown = [p.name for p in wide if p.resolve() not in shown]
    assert not unshown, f"panel screenshots no page shows: {unshown}"
