"""``labdeck user|token|cert`` through ``labdeck.cli.main``, and once as a real process."""

from __future__ import annotations

import asyncio
import getpass
import io
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labdeck.auth.tokens import Tokens
from labdeck.auth.users import Users
from labdeck.cli import main
from labdeck.store import Store
from tests.auth.conftest import stored_bytes
from tests.helpers import scaled

PASSWORD = "correct horse battery"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for var in [v for v in os.environ if v.startswith("LABDECK_")]:
        monkeypatch.delenv(var)
    path = tmp_path / "labdeck.toml"
    path.write_text('[server]\ndata = "data"\n', encoding="utf-8")
    return str(path)


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "data" / "labdeck.sqlite")
    try:
        yield store
    finally:
        store.close()


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def labdeck(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_user_add_list_passwd_del(config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    assert labdeck(capsys, "user", "add", "ana", "--role", "operator", "--password-stdin", "--config", config) == (
        0, "user 'ana' added as operator\n", "")
    code, out, _ = labdeck(capsys, "user", "list", "--config", config)
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["NAME", "ROLE", "CREATED", "LAST", "LOGIN"]
    assert row.split()[:2] == ["ana", "operator"] and row.endswith("-")
    assert PASSWORD.encode() not in stored_bytes(tmp_path / "data" / "labdeck.sqlite")

    stdin(monkeypatch, "another good password\n")
    assert labdeck(capsys, "user", "passwd", "ana", "--password-stdin", "--config", config)[0] == 0
    store = Store(tmp_path / "data" / "labdeck.sqlite")
    try:
        assert Users(store).passwords.verify(store.query_sync("SELECT password FROM users")[0][0],
                                             "another good password")
    finally:
        store.close()
    assert labdeck(capsys, "user", "del", "ana", "--config", config) == (0, "user 'ana' deleted\n", "")
    assert labdeck(capsys, "user", "list", "--config", config)[1].splitlines()[1:] == []


def test_user_add_prompts_twice_without_echo(config: str, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    code, out, err = labdeck(capsys, "user", "add", "ana", "--role", "viewer", "--config", config)
    assert (code, out, err) == (1, "", "labdeck: the two passwords differ; nothing changed\n")
    answers = iter([PASSWORD, PASSWORD])
    assert labdeck(capsys, "user", "add", "ana", "--role", "viewer", "--config", config)[0] == 0


@pytest.mark.parametrize(("argv", "password", "error"), [
    (["user", "add", "Ana", "--role", "viewer"], PASSWORD, "user name 'Ana' is not allowed"),
    (["user", "add", "ana", "--role", "viewer"], "short", "password too short"),
    (["user", "del", "ghost"], "", "no user 'ghost'"),
    (["user", "passwd", "ghost"], PASSWORD, "no user 'ghost'"),
    (["token", "revoke", "ghost"], "", "no token 'ghost'"),
])
def test_mistakes_are_one_line_errors(config: str, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch, argv: list[str], password: str,
                                      error: str) -> None:
    stdin(monkeypatch, password + "\n")
    extra = ["--password-stdin"] if argv[1] in ("add", "passwd") and argv[0] == "user" else []
    code, out, err = labdeck(capsys, *argv, *extra, "--config", config)
    assert (code, out) == (1, "")
    assert err.startswith(f"labdeck: {error}") and err.count("\n") == 1, err


def test_an_unknown_role_is_a_usage_error(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["user", "add", "ana", "--role", "root", "--config", config])
    assert info.value.code == 2
    assert "invalid choice: 'root'" in capsys.readouterr().err


def test_token_add_prints_it_once_and_never_stores_it(config: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       open_store: Store) -> None:
    code, out, err = labdeck(capsys, "token", "add", "scanner", "--role", "operator", "--expires", "30",
                             "--config", config)
    token = out.strip()
    assert code == 0 and out == token + "\n" and token.startswith("ldk_")
    assert "will not be shown again" in err and "operator" in err and "expires" in err
    assert asyncio.run(Tokens(open_store).verify(token)) is not None
    code, out, _ = labdeck(capsys, "token", "list", "--config", config)
    assert code == 0 and token not in out
    assert out.splitlines()[1].split()[:2] == ["scanner", "operator"]
    assert token.encode() not in stored_bytes(tmp_path / "data" / "labdeck.sqlite")
    assert labdeck(capsys, "token", "revoke", "scanner", "--config", config) == (0, "token 'scanner' revoked\n", "")
    assert asyncio.run(Tokens(open_store).verify(token)) is None


def test_cert_writes_a_pair_into_the_data_folder(config: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = labdeck(capsys, "cert", "--host", "lab.test", "--host", "192.0.2.7", "--config", config)
    assert code == 0
    key = tmp_path / "data" / "tls" / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert f'key = "{key}"' in out
    code, _, err = labdeck(capsys, "cert", "--host", "lab.test", "--config", config)
    assert code == 1 and "pass --force" in err
    assert labdeck(capsys, "cert", "--host", "lab.test", "--out", str(tmp_path / "x"), "--config", config)[0] == 0


def test_user_add_as_a_real_process_reading_the_password_from_stdin(config: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABDECK_")}
    done = subprocess.run([sys.executable, "-m", "labdeck", "user", "add", "ana", "--role", "admin",
                           "--password-stdin", "--config", config], input=PASSWORD + "\n", capture_output=True,
                          text=True, env=env, timeout=scaled(60), check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "user 'ana' added as admin\n", "")
    store = Store(tmp_path / "data" / "labdeck.sqlite")
    try:
            identity = asyncio.run(Users(store).authenticate("ana", PASSWORD))
    finally:
        store.close()
    assert identity is not None and identity.role == "admin"


def test_changes_made_on_the_command_line_are_in_the_audit_log(
        config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    assert labdeck(capsys, "user", "add", "ana", "--role", "operator", "--password-stdin", "--config", config)[0] == 0
    assert labdeck(capsys, "token", "add", "agent", "--role", "viewer", "--config", config)[0] == 0
    assert labdeck(capsys, "token", "revoke", "agent", "--config", config)[0] == 0
    assert labdeck(capsys, "user", "del", "ana", "--config", config)[0] == 0
    store = Store(tmp_path / "data" / "labdeck.sqlite")
    try:
        rows = store.query_sync("SELECT via, user, action, detail FROM audit_log ORDER BY id")
    finally:
        store.close()
    assert [(r["via"], r["action"]) for r in rows] == [
        ("cli", "user.add"), ("cli", "token.add"), ("cli", "token.revoke"), ("cli", "user.delete")]
    assert all(r["user"] for r in rows)  # the system user who ran the command
    assert PASSWORD not in "".join(r["detail"] for r in rows)
