"""``labdeck.toml``: defaults, every section, precedence, and one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from labdeck import Config, ConfigError, load_config
from labdeck.config import ScriptConfig, is_loopback


def write(tmp_path: Path, text: str, name: str = "labdeck.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(path: Path | str | None, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message, "a config error is one line"
    assert "Traceback" not in message
    return message


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./labdeck.toml here
    config = load_config(None, env={})
    s = config.server
    assert (s.host, s.port, s.base_path, s.data, s.debug) == ("127.0.0.1", 8888, "", "labdeck-data", False)
    assert (s.max_frame, s.history, s.send_queue_bytes, s.allowed_origins) == (1 << 20, 10_000, 4 << 20, [])
    assert config.broker.url is None
    assert config.scripts == {} and config.objects == {}
    assert config.path is None
    assert config.data_dir == (tmp_path / "labdeck-data").resolve()


def test_labdeck_toml_in_the_current_folder_is_read_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "[server]\nport = 9100\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={})
    assert config.server.port == 9100
    assert config.path == str((tmp_path / "labdeck.toml").resolve())


def test_a_file_with_every_section(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
host = "localhost"
port = 9000
base_path = "/lab/"
data = "state"
max_frame = 4096
history = 50
send_queue_bytes = 65536
allowed_origins = ["http://scanner.example:8080"]
debug = true

[broker]
url = "memory://"

[scripts]
init = "scripts/init.py"
main = { command = ["python", "scripts/main.py", "--fast"], cwd = "." }

[objects]
sample = "tests.objects.samples:holder"

[admin]
log_file = "labdeck.log"
history_days = 90

[mail]
host = "smtp.lab.example"
to = ["mri-admin@lab.example"]
hour = 6
""",
    )
    config = load_config(path, env={})
    s = config.server
    assert (s.host, s.port, s.base_path, s.data, s.debug) == ("localhost", 9000, "/lab", "state", True)
    assert (s.max_frame, s.history, s.send_queue_bytes) == (4096, 50, 65536)
    assert s.allowed_origins == ["http://scanner.example:8080"]
    assert config.broker.url == "memory://"
    assert config.scripts == {
        "init": "scripts/init.py",
        "main": ScriptConfig(command=["python", "scripts/main.py", "--fast"], cwd="."),
    }
    assert config.objects == {"sample": "tests.objects.samples:holder"}
    assert (config.admin.log_file, config.admin.history_days, config.admin.stats_days) == ("labdeck.log", 90, 400)
    assert config.mail.enabled and (config.mail.host, config.mail.port, config.mail.hour) == ("smtp.lab.example", 25, 6)
    assert config.path == str(path.resolve())


def test_a_relative_data_path_resolves_against_the_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "project").mkdir()
    path = write(tmp_path / "project", '[server]\ndata = "runs/data"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config("project/labdeck.toml", env={}).data_dir == (tmp_path / "project" / "runs" / "data").resolve()
    absolute = write(tmp_path / "project", f'[server]\ndata = "{tmp_path / "elsewhere"}"\n', "abs.toml")
    assert load_config(absolute, env={}).data_dir == tmp_path / "elsewhere"
    assert path.exists()


def test_env_overrides_the_file_and_flags_override_env(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nport = 9000\nhost = "127.0.0.1"\nbase_path = "/a"\n')
    env = {"LABDECK_PORT": "9001", "LABDECK_HOST": "localhost", "LABDECK_BASE_PATH": "/b", "LABDECK_DEBUG": "yes",
           "LABDECK_DATA": "d", "LABDECK_BROKER_URL": "memory://"}
    config = load_config(path, env=env)
    s = config.server
    assert (s.port, s.host, s.base_path, s.debug, s.data) == (9001, "localhost", "/b", True, "d")
    assert config.broker.url == "memory://"
    config = load_config(path, env=env, overrides={"server.port": 9002, "server.host": "::1", "server.base_path": None})
    assert (config.server.port, config.server.host, config.server.base_path) == (9002, "::1", "/b")


def test_labdeck_config_names_the_file_when_none_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[server]\nport = 9123\n", "lab.toml")
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "[server]\nport = 9456\n")  # ./labdeck.toml loses to $LABDECK_CONFIG
    assert load_config(None, env={"LABDECK_CONFIG": str(path)}).server.port == 9123
    assert load_config(None, env={}).server.port == 9456
    other = write(tmp_path, "[server]\nport = 9789\n", "other.toml")
    assert load_config(other, env={"LABDECK_CONFIG": str(path)}).server.port == 9789  # --config wins


@pytest.mark.parametrize(("text", "debug"), [("1", True), ("TRUE", True), ("on", True), ("0", False), ("no", False)])
def test_labdeck_debug_accepts_the_usual_spellings(text: str, debug: bool) -> None:
    assert load_config(None, env={"LABDECK_DEBUG": text}).server.debug is debug


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    assert error(path, env={}) == f"{path}: config file not found"


def test_invalid_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\nhost = \n")
    message = error(path, env={})
    assert message.startswith(f"{path}: not valid TOML: ")
    assert "line 3" in message


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "labdeck.toml"
    path.write_bytes(b'[server]\nhost = "\xff"\n')
    assert error(path, env={}).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server]\nprot = 9000\n", "unknown key `server.prot`"),
        ("colour = 1\n", "unknown key `colour`"),
        ("path = 'x'\n", "unknown key `path`"),
        ("[broker]\nurl = 'memory://'\nhost = 'x'\n", "unknown key `broker.host`"),
        ("[scripts]\nmain = { command = 'x', env = {} }\n", "unknown key `scripts.*.env`"),
        ("[scripts]\nmain = { cwd = '.' }\n", "missing required key `scripts.*.command`"),
    ],
)
def test_an_unknown_or_missing_key_is_named(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert error(path, env={}) == f"{path}: {expected}"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nport = '9000'\n", "server.port"),
        ("[server]\ndebug = 'yes'\n", "server.debug"),
        ("[server]\nhistory = 1.5\n", "server.history"),
        ("[server]\nallowed_origins = 'http://x'\n", "server.allowed_origins"),
        ("[server]\nallowed_origins = ['http://x', 2]\n", "server.allowed_origins.1"),
        ("server = 1\n", "server"),
        ("[objects]\nsample = 3\n", "objects.*"),
    ],
)
def test_a_value_of_the_wrong_type_is_named(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    message = error(path, env={})
    assert message.startswith(f"{path}: `{key}`: Expected "), message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nport = 70000\n", "server.port"),
        ("[server]\nport = -1\n", "server.port"),
        ("[server]\nhistory = 0\n", "server.history"),
        ("[server]\nmax_frame = 0\n", "server.max_frame"),
        ("[server]\nsend_queue_bytes = 0\n", "server.send_queue_bytes"),
        ("[server]\nbase_path = 'lab'\n", "server.base_path"),
        ("[server]\nbase_path = '/a/../b'\n", "server.base_path"),
        ("[server]\nbase_path = '/a//b'\n", "server.base_path"),
    ],
)
def test_a_value_out_of_range_is_named(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    assert error(path, env={}).startswith(f"{path}: `{key}`")


@pytest.mark.parametrize(("var", "value", "key"), [
    ("LABDECK_PORT", "abc", "server.port"),
    ("LABDECK_PORT", "", "server.port"),
    ("LABDECK_DEBUG", "maybe", "server.debug"),
])
def test_a_bad_environment_value_names_the_variable_and_the_key(var: str, value: str, key: str) -> None:
    message = error(None, env={var: value})
    assert message.startswith(f"environment: {var}={value!r}: `{key}`"), message


def test_a_bad_port_from_the_environment_is_refused_whatever_the_file_says(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n")
    assert "LABDECK_PORT" in error(path, env={"LABDECK_PORT": "http"})


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "lab.example.org"])
def test_a_non_loopback_host_is_refused_from_the_file_env_or_flags(tmp_path: Path, host: str) -> None:
    path = write(tmp_path, f'[server]\nhost = "{host}"\n')
    assert "`server.host`: refusing to listen on non-loopback address" in error(path, env={})
    assert "non-loopback" in error(None, env={"LABDECK_HOST": host})
    assert "non-loopback" in error(None, env={}, overrides={"server.host": host})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    assert load_config(None, env={}, overrides={"server.host": host}).server.host == host


def test_a_config_object_is_what_load_config_returns() -> None:
    assert isinstance(load_config(None, env={}), Config)


def test_hostnames_are_normalised_for_the_host_check(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nhostnames = ["Lab.Example.org", "scanner-pc.", "192.168.1.10", "fe80::1"]\n')
    assert load_config(path, env={}).server.hostnames == ["lab.example.org", "scanner-pc", "192.168.1.10", "[fe80::1]"]


@pytest.mark.parametrize("name", ["", "http://lab.example.org", "lab.example.org:8888", "lab.example.org/x",
                                  "*.example.org", "lab_pc", "-lab", "a..b", "x" * 64])
def test_a_hostname_that_is_not_a_name_is_refused(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f'[server]\nhostnames = ["{name}"]\n')
    message = error(path, env={})
    assert message.startswith(f"{path}: `server.hostnames`: {name!r} is not a host name"), message


@pytest.mark.parametrize("url", ["mysql://lab:s3cret@db/labdeck", "POSTGRESQL://lab:s3cret@db/labdeck"])
def test_a_store_url_the_store_would_not_open_as_postgresql_is_refused_without_its_password(
        tmp_path: Path, url: str) -> None:
    """An upper-case scheme was once accepted here and then opened as a SQLite file of that name."""
    path = write(tmp_path, f'[store]\nurl = "{url}"\n')
    shown = url.replace("s3cret", "***")
    assert error(path, env={}) == (f"{path}: `store.url`: {shown!r} is not a PostgreSQL URL (e.g. "
                                   '"postgresql://labdeck@db.example.org:5432/labdeck"); leave it out for SQLite '
                                   "in the data folder")
