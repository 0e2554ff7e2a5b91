"""The ``labdeck`` command: exit codes, one-line errors, ``--version``, ``--help`` snapshots,
and ``labdeck serve`` as a real process."""

from __future__ import annotations

import argparse
import difflib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import labdeck
from labdeck.cli import build_parser, main
from tests.helpers import scaled

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("LABDECK_UPDATE_SNAPSHOTS") == "1"
LABDECK = Path(sys.executable).with_name("labdeck")


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert err.startswith("labdeck: ")
    return err.strip()


def test_serve_with_a_missing_config_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.toml"
    assert main(["serve", "--config", str(missing)]) == 2
    assert one_error_line(capsys) == f"labdeck: {missing}: config file not found"


def test_serve_with_an_unknown_key_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "labdeck.toml"
    path.write_text("[server]\nprot = 1\n", encoding="utf-8")
    assert main(["serve", "--config", str(path)]) == 2
    assert one_error_line(capsys) == f"labdeck: {path}: unknown key `server.prot`"


def test_serve_refuses_a_public_host_flag(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "non-loopback" in one_error_line(capsys)


def test_a_bad_value_names_its_real_source(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "labdeck.toml"
    path.write_text("[server]\nport = 8000\n", encoding="utf-8")
    assert main(["serve", "--config", str(path), "--port", "99999"]) == 2
    assert one_error_line(capsys) == (
        "labdeck: command line: --port: `server.port`: 99999 is not a port number (0-65535)")
    monkeypatch.setenv("LABDECK_PORT", "70000")
    assert main(["serve", "--config", str(path)]) == 2
    assert one_error_line(capsys).startswith("labdeck: environment variable LABDECK_PORT: `server.port`")
    monkeypatch.delenv("LABDECK_PORT")
    path.write_text("[server]\nport = 99999\n", encoding="utf-8")
    assert main(["serve", "--config", str(path)]) == 2
    assert one_error_line(capsys).startswith(f"labdeck: {path}: `server.port`")  # the file's own value


def test_an_address_in_use_suggests_another_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "labdeck.toml"
        path.write_text(f'[server]\nport = {port}\ndata = "data"\n', encoding="utf-8")
        assert main(["serve", "--config", str(path)]) == 1
    _, err = capsys.readouterr()
    last = err.strip().splitlines()[-1]
    assert last.startswith("labdeck: the address is already in use") and "--port" in last, err
    assert "Traceback" not in err


def test_serve_without_a_config_says_where_its_data_goes(tmp_path: Path) -> None:
    command = [str(LABDECK)] if LABDECK.exists() else [sys.executable, "-m", "labdeck"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_")}
    env["LABDECK_PORT"] = "0"
    proc = subprocess.Popen([*command, "serve"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert "no labdeck.toml here" in first and str(tmp_path / "labdeck-data") in first, first
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=scaled(20))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"labdeck {labdeck.__version__}\n"


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert capsys.readouterr().out.startswith("usage: labdeck")


def test_a_bad_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--port", "eighty"])
    assert info.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


# -- --help snapshots -------------------------------------------------------------------


def subcommands() -> list[str]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return sorted(action.choices)
    return []


def help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


NESTED = ["dicom import", "dicom refs import", "dicom refs export", "dicom report",
          "rig serve", "rig init", "rig start", "rig stop", "rig cleanup", "rig status", "rig info"]
"""Sub-commands of sub-commands with a snapshot of their own."""


@pytest.mark.parametrize("command", ["", *subcommands(), *NESTED])
def test_help_matches_its_snapshot(command: str, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps to the terminal width
    text = help_text(command.split(), capsys)
    snapshot = SNAPSHOTS / f"help-{command.replace(' ', '-') or 'labdeck'}.txt"
    if UPDATE or not snapshot.exists():
        if not UPDATE:
            pytest.fail(f"no snapshot {snapshot.name}; run with LABDECK_UPDATE_SNAPSHOTS=1 to create it",
                        pytrace=False)
        snapshot.write_text(text, encoding="utf-8")
    expected = snapshot.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(keepends=True), text.splitlines(keepends=True),
            f"{snapshot.name} (snapshot)", "labdeck " + (command + " " if command else "") + "--help (now)",
        ))
        pytest.fail(f"--help changed; if on purpose, rerun with LABDECK_UPDATE_SNAPSHOTS=1\n{diff}", pytrace=False)


def test_top_level_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text([], capsys)
    for command in subcommands():
        assert re.search(rf"^\s+{command}\s", text, re.M), command


# -- real processes ---------------------------------------------------------------------


def test_python_dash_m_labdeck_version() -> None:
    done = subprocess.run([sys.executable, "-m", "labdeck", "--version"], capture_output=True, text=True,
                          timeout=scaled(30), check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"labdeck {labdeck.__version__}\n", "")


def test_labdeck_serve_answers_healthz_and_exits_cleanly_on_sigint(tmp_path: Path) -> None:
    (tmp_path / "labdeck.toml").write_text('[server]\nport = 0\ndata = "data"\n', encoding="utf-8")
    command = [str(LABDECK)] if LABDECK.exists() else [sys.executable, "-m", "labdeck"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_")}
    proc = subprocess.Popen([*command, "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        url = None
        deadline = time.monotonic() + scaled(30)
        lines = []
        while url is None and time.monotonic() < deadline:  # bounded: the process logs or exits
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if m := re.search(r"labdeck serving (http://\S+)", line):
                url = m[1]
        assert url is not None, "".join(lines)
        with urllib.request.urlopen(url + "healthz", timeout=scaled(10)) as resp:
            assert resp.status == 200
            assert b'"status":"ok"' in resp.read().replace(b" ", b"")
        assert (tmp_path / "data" / "labdeck.sqlite").exists()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=scaled(20)) == 0
        rest = proc.stderr.read()
        assert "Traceback" not in rest, rest
        assert "labdeck: SIGINT: stopping" in rest  # a line says so at once
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def serve_until_listening(command: list[str], cwd: Path) -> tuple[subprocess.Popen[str], str]:
    """Start ``command`` (a ``labdeck serve``) in ``cwd``; the process and the URL it serves."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_") and k != "PYTHONPATH"}
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines, deadline = [], time.monotonic() + scaled(30)
    while time.monotonic() < deadline:  # bounded: the process logs or exits
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if m := re.search(r"labdeck serving (http://\S+)", line):
            return proc, m[1]
    proc.kill()
    proc.wait()
    raise AssertionError("".join(lines))


def test_serve_imports_the_modules_its_config_names_from_the_configs_folder(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "mylab.py").write_text("class Lab:\n    level = 3\n\nlab = Lab()\n", encoding="utf-8")
    # A stray module beside the config must not shadow the standard library's.
    (project / "json.py").write_text("raise SystemExit('the project folder shadowed json')\n", encoding="utf-8")
    (project / "labdeck.toml").write_text('[server]\nport = 0\ndata = "data"\n[objects]\nlab = "mylab:lab"\n',
                                          encoding="utf-8")
    command = [str(LABDECK)] if LABDECK.exists() else [sys.executable, "-m", "labdeck"]
    proc, url = serve_until_listening([*command, "serve", "--config", str(project / "labdeck.toml")], elsewhere)
    try:
        with urllib.request.urlopen(url + "healthz", timeout=scaled(10)) as resp:
            assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=scaled(20))
        assert proc.stderr is not None
        proc.stderr.close()


def test_serve_with_workers_needs_redis_and_says_so(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABDECK_BROKER_URL", raising=False)
    assert main(["serve", "--workers", "3", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "`server.workers` = 3 needs a shared broker" in err and "redis://" in err
    monkeypatch.setenv("LABDECK_BROKER_URL", "redis://127.0.0.1:6379/0")
    assert main(["serve", "--workers", "3", "--port", "0"]) == 2
    assert "needs a fixed `server.port`" in capsys.readouterr().err
    assert main(["serve", "--workers", "0"]) == 2
    assert "`server.workers`: 0 is not between 1 and 64" in capsys.readouterr().err


def _demo(tmp_path: Path, *flags: str) -> str:
    """Run ``labdeck demo`` until it serves, then Ctrl-C; what it printed."""
    command = [str(LABDECK)] if LABDECK.exists() else [sys.executable, "-m", "labdeck"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_")}
    env.update(XDG_DATA_HOME=str(tmp_path / "share"), TMPDIR=str(tmp_path / "tmp"))
    proc = subprocess.Popen([*command, "demo", "--no-browser", "--port", "0", *flags], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + scaled(30)
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "labdeck serving" in line:
                break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=scaled(20)) == 0, "".join(seen)
        seen.append(proc.stdout.read())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    return "".join(seen)


def test_the_demo_keeps_its_data_in_one_folder_and_fresh_starts_clean(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    folder = tmp_path / "share" / "labdeck" / "demo"
    out = _demo(tmp_path)
    assert f"data in {folder}" in out and "labdeck serving" in out, out
    database = folder / "labdeck.sqlite"
    assert database.is_file()
    import sqlite3

    with sqlite3.connect(database) as db:
        db.execute("INSERT INTO meta VALUES ('kept', 'yes')")
    _demo(tmp_path)
    with sqlite3.connect(database) as db:  # a restart keeps the history
        assert db.execute("SELECT value FROM meta WHERE key = 'kept'").fetchall() == [("yes",)]
    out = _demo(tmp_path, "--fresh")
    assert "starting fresh" in out
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'kept'").fetchall() == []
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing left in the temporary folder
