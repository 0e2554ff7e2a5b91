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


NESTED = ["dicom import", "dicom refs import", "dicom refs export", "dicom report"]
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
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
