"""The config file (``labdeck.toml``): its sections, defaults and validation.

The file is the one given, else ``$LABDECK_CONFIG``, else ``./labdeck.toml`` if there.
Precedence, lowest first: built-in defaults, the file, environment variables
(``LABDECK_HOST``, ``LABDECK_PORT``, ``LABDECK_BASE_PATH``, ``LABDECK_DATA``,
``LABDECK_BROKER_URL``, ``LABDECK_DEBUG``), command-line flags. Every problem is one
:class:`ConfigError` line naming the key and the file.

Relative paths in the file are relative to the folder the file is in.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import sys
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from labdeck.admin.config import AdminConfig, MailConfig
from labdeck.admin.config import check as check_admin
from labdeck.auth.config import AuthConfig, TlsConfig
from labdeck.auth.config import check as check_auth
from labdeck.exceptions import ConfigError
from labdeck.pages.config import PageSite, check_pages

if TYPE_CHECKING:
    from labdeck.capability import Capability

__all__ = [
    "BrokerConfig",
    "Config",
    "RunConfig",
    "ScriptConfig",
    "ServerConfig",
    "StoreConfig",
    "UploadDir",
    "check_listen",
    "command_words",
    "config_from_mapping",
    "import_from",
    "is_loopback",
    "load_config",
]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerConfig(_Section):
    """``[server]``: where and how the web server listens."""

    host: str = "127.0.0.1"
    port: int = 8888
    workers: int = 1
    """Server processes sharing the port (``labdeck serve --workers N``); more than one
    needs ``[broker] url`` on Redis, through which they share channels."""
    base_path: str = ""
    data: str = "labdeck-data"
    """Folder for the database, run data and uploads."""
    max_frame: int = 1 << 20
    """Largest websocket frame accepted, in bytes; larger ones close with 1009."""
    history: int = 10_000
    """Messages each channel keeps for replay to reconnecting clients."""
    history_bytes: int = 64 << 20
    """Bytes of message data each channel keeps at most (the oldest messages go first)."""
    send_queue_bytes: int = 4 << 20
    """Per-connection send-queue bound; a client that falls further behind is dropped."""
    max_in_flight: int = 256
    """Requests one websocket connection may have unanswered at once (slow calls); one
    past it is refused with ``TooManyInFlight``."""
    max_depth: int = 64
    """How deeply arrays and objects may nest in a websocket frame (the request is level 1)."""
    max_channels: int = 10_000
    """Channels the server keeps at once; past it, idle ones are dropped or new ones refused."""
    max_retained_bytes: int = 256 << 20
    """Bytes of message data all channels retain together (last values and history)."""
    channel_idle: float = 60.0
    """Seconds without a publish before a channel nobody subscribes to may be dropped."""
    allowed_origins: list[str] = msgspec.field(default_factory=list)
    """Extra websocket Origins accepted beside the server's own."""
    hostnames: list[str] = msgspec.field(default_factory=list)
    """Names the server answers to beyond loopback and its bound address (the Host check)."""
    robots: str = "User-agent: *\nDisallow: /\n"
    """The text of ``/robots.txt``: by default every crawler is asked to stay away."""
    rate_limit: int = 60
    """Requests per minute one address may make to the login form and the expensive routes
    (page templates, directory listings, uploads); past it, 429 with ``Retry-After``. 0: no limit."""
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    """Addresses or networks (``10.0.0.0/8``) of reverse proxies whose ``X-Forwarded-For``
    names the client (:mod:`labdeck.web.proxies`); empty: the header is ignored."""
    debug: bool = False


class BrokerConfig(_Section):
    """``[broker]``: absent ``url`` means the in-process broker."""

    url: str | None = None
    """``redis://host:6379/0`` (or ``rediss://`` for TLS) shares channels between processes."""
    prefix: str = "labdeck"
    """The namespace of labdeck's keys in Redis: deployments sharing one Redis differ here."""
    lease_ttl: float = 15.0
    """Seconds after which a lease held by a server process that died (even by SIGKILL)
    frees itself: the one-run lock, the ownership of watches and rigs."""


class StoreConfig(_Section):
    """``[store]``: absent ``url`` means SQLite, ``labdeck.sqlite`` in the data folder."""

    url: str | None = None
    """``postgresql://user@host:5432/name``: a PostgreSQL database that several servers
    (on one host or several) share (needs ``pip install 'labdeck[postgres]'``)."""


class ScriptConfig(_Section):
    """A ``[scripts]`` entry in table form."""

    command: str | list[str]
    cwd: str | None = None


class UploadDir(_Section):
    """A ``[run.upload_dirs.<name>]`` table: one upload folder with rules of its own.

    Unset rules take the ``[run]`` defaults (``upload_max``, ``upload_patterns``,
    ``upload_overwrite``).
    """

    path: str
    create: list[str] | None = None
    """Shell patterns a new file's name must match (one of them)."""
    overwrite: list[str] | None = None
    """Shell patterns of the names an upload may replace; ``[]`` replaces nothing."""
    listable: bool = True
    """Whether the folder's files may be listed (``GET /api/uploads/<name>``)."""
    max_bytes: int | None = None
    """Largest upload into this folder, in bytes."""


class RunConfig(_Section):
    """``[run]``: how scripts are run and what they may be given."""

    default_config: str | None = None
    """The project's default script configuration (a TOML file), shown and edited in the dashboard."""
    grace_int: float = 5.0
    """Seconds a stopped script has after SIGINT before it gets SIGTERM."""
    grace_term: float = 5.0
    """Seconds after SIGTERM before SIGKILL."""
    upload_dirs: dict[str, str | UploadDir] = msgspec.field(default_factory=dict)
    """Folders uploads may go to, by the name the browser uses: a path, or a table of
    rules (:class:`UploadDir`)."""
    upload_max: int = 100 << 20
    """Largest upload in bytes."""
    upload_patterns: list[str] = msgspec.field(default_factory=lambda: ["*"])
    """Shell patterns an uploaded file's name must match (one of them)."""
    upload_overwrite: bool = False
    """Whether an upload may replace a file of the same name."""


class Config(_Section):
    """The whole file. ``path`` and ``base_dir`` are where it was read from."""

    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    broker: BrokerConfig = msgspec.field(default_factory=BrokerConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    scripts: dict[str, str | ScriptConfig] = msgspec.field(default_factory=dict)
    run: RunConfig = msgspec.field(default_factory=RunConfig)
    objects: dict[str, str] = msgspec.field(default_factory=dict)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    tls: TlsConfig = msgspec.field(default_factory=TlsConfig)
    admin: AdminConfig = msgspec.field(default_factory=AdminConfig)
    mail: MailConfig = msgspec.field(default_factory=MailConfig)
    pages: dict[str, PageSite] = msgspec.field(default_factory=dict)
    """The lab's own pages, by site name (see :mod:`labdeck.pages.config`)."""
    sections: dict[str, Any] = msgspec.field(default_factory=dict)
    """The capabilities' own sections, decoded, by capability name (see :mod:`labdeck.capability`)."""
    path: str | None = None
    base_dir: str = "."

    def resolve(self, p: str) -> Path:
        """A path from the file, made absolute against the file's folder."""
        return (Path(self.base_dir) / os.path.expanduser(p)).resolve()

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.server.data)


_ENV: dict[str, tuple[str, str]] = {
    "LABDECK_HOST": ("server", "host"),
    "LABDECK_PORT": ("server", "port"),
    "LABDECK_WORKERS": ("server", "workers"),
    "LABDECK_BASE_PATH": ("server", "base_path"),
    "LABDECK_DATA": ("server", "data"),
    "LABDECK_DEBUG": ("server", "debug"),
    "LABDECK_BROKER_URL": ("broker", "url"),
    "LABDECK_BROKER_PREFIX": ("broker", "prefix"),
    "LABDECK_STORE_URL": ("store", "url"),
}


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    capabilities: Sequence[type[Capability]] = (),
) -> Config:
    """Read, merge and validate the configuration.

    Args:
        path: the TOML file; ``None`` uses ``$LABDECK_CONFIG``, else ``./labdeck.toml`` when
            present, else the defaults.
        env: environment to read overrides from (``os.environ`` by default).
        overrides: ``{"server.port": 9000, ...}`` from the command line; ``None`` values
            are ignored.
        capabilities: capability classes given to the :class:`~labdeck.Deck` itself (not
            installed): their sections are theirs to read, as an installed one's are.

    Raises:
        ConfigError: the file is missing or unreadable, is not TOML, or has an unknown
            key or a value of the wrong type or range.
    """
    env = os.environ if env is None else env
    where = "defaults"
    raw: dict[str, Any] = {}
    if path is None:
        path = env.get("LABDECK_CONFIG") or None
    if path is None and Path("labdeck.toml").is_file():
        path = "labdeck.toml"
    if path is not None:
        file = Path(path)
        where = str(file)
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{where}: config file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot read config file: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: not valid TOML: {exc}") from None
        for key in _RESERVED:
            if key in raw:
                raise ConfigError(f"{where}: unknown key `{key}`")
        raw["path"] = str(file.resolve())
        raw["base_dir"] = str(file.resolve().parent)
    sources: dict[str, str] = {}  # dotted key -> where its value came from, when not the file
    for var, (section, key) in _ENV.items():
        if var in env:
            raw.setdefault(section, {})[key] = _env_value(var, env[var], key)
            sources[f"{section}.{key}"] = f"environment variable {var}"
    for dotted, value in (overrides or {}).items():
        if value is not None:
            section, key = dotted.split(".", 1)
            raw.setdefault(section, {})[key] = value
            sources[dotted] = f"command line: --{key.replace('_', '-')}"
    return _decode(raw, where, sources, capabilities)


def config_from_mapping(raw: Mapping[str, Any], *, base_dir: str | os.PathLike[str], where: str) -> Config:
    """A configuration from tables already read (by a layer that reads another format),
    validated as :func:`load_config` validates a file.

    Args:
        raw: ``{"server": {"port": 8890}, "pages": {...}, ...}``, as the TOML file would hold.
        base_dir: the folder relative paths are resolved against (the other file's folder).
        where: what to name in errors (the other file).

    Raises:
        ConfigError: as :func:`load_config`.
    """
    tables = {k: dict(v) if isinstance(v, Mapping) else v for k, v in raw.items()}
    for key in _RESERVED:
        if key in tables:
            raise ConfigError(f"{where}: unknown key `{key}`")
    tables["base_dir"] = str(Path(base_dir).resolve())
    return _decode(tables, where, {})


def _decode(raw: dict[str, Any], where: str, sources: dict[str, str],
            given: Sequence[type[Capability]] = ()) -> Config:
    raw_sections = {k: raw.pop(k) for k in list(raw) if k not in _CORE}
    try:
        config = msgspec.convert(raw, Config, strict=True)
    except msgspec.ValidationError as exc:
        why = _explain_table(raw, [("pages", dict[str, PageSite])]) or _explain(exc)
        raise ConfigError(_blame(f"{where}: {why}", where, sources)) from None
    config.sections = _capability_sections(raw_sections, where, given)
    try:
        _check(config, where)
    except ConfigError as exc:
        raise ConfigError(_blame(str(exc), where, sources)) from None
    return config


_NAMED_KEY = re.compile(r"`([a-z_]+\.[a-z_.]+)`")


def _blame(message: str, where: str, sources: Mapping[str, str]) -> str:
    """``message`` naming the real source of the key it is about: a value given on the
    command line or in the environment is not the file's fault."""
    m = _NAMED_KEY.search(message)
    source = sources.get(m[1]) if m else None
    if source is None or not message.startswith(f"{where}: "):
        return message
    return f"{source}: {message.removeprefix(f'{where}: ')}"


_RESERVED = ("path", "base_dir", "sections")
_CORE = frozenset(f.name for f in msgspec.structs.fields(Config)) - {"sections"}


def _capability_sections(raw: dict[str, Any], where: str, given: Sequence[type[Capability]] = ()) -> dict[str, Any]:
    """Decode each top-level section no core key claims with its capability's type.

    Raises:
        ConfigError: no installed capability claims a section, the capability is
            broken, or the section does not match its type.
    """
    from labdeck import capabilities  # the registry imports capability code: only when needed

    if not raw:
        return {}
    fields: list[tuple[str, Any]] = []
    own = {c.name: c for c in given}
    for name in raw:
        cls = own.get(name)
        if cls is None:
            if name not in capabilities.installed() and name not in {c.name for c in capabilities.builtin()}:
                raise ConfigError(f"{where}: unknown key `{name}`")  # no installed capability claims it
            try:
                cls = capabilities.load(name)
            except ConfigError as exc:
                raise ConfigError(f"{where}: `{name}`: {exc.message}") from None
        if cls.config_type is None:
            if raw[name] not in ({}, None):
                raise ConfigError(f"{where}: `{name}`: capability {name!r} takes no settings")
            raw[name] = None
            fields.append((name, Any))
        else:
            fields.append((name, cls.config_type))
    shape = msgspec.defstruct("Sections", fields, forbid_unknown_fields=True, kw_only=True)
    try:
        decoded = msgspec.convert(raw, shape, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {_explain_table(raw, fields) or _explain(exc)}") from None
    return {name: getattr(decoded, name) for name, _ in fields}


def _explain_table(raw: dict[str, Any], fields: list[tuple[str, Any]]) -> str | None:
    """The error inside a ``[section.<name>]`` table, naming the table (msgspec writes ``*``)."""
    for name, kind in fields:
        if typing.get_origin(kind) is not dict or not isinstance(raw.get(name), dict):
            continue
        _, item = typing.get_args(kind)
        for key, value in raw[name].items():
            try:
                msgspec.convert(value, item, strict=True)
            except msgspec.ValidationError as exc:
                return _explain(exc, prefix=f"{name}.{key}")
    return None


def _env_value(var: str, text: str, key: str) -> Any:
    if key in ("port", "workers"):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"environment: {var}={text!r}: `server.{key}` must be a whole number") from None
    if key == "debug":
        flag = text.strip().lower()
        if flag not in _TRUE + _FALSE:
            raise ConfigError(
                f"environment: {var}={text!r}: `server.debug` must be true or false (1/0, yes/no, on/off)"
            )
        return flag in _TRUE
    return text


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`(?: - at `\$(?P<at>[^`]*)`)?")
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`(?: - at `\$(?P<at>[^`]*)`)?")
_WRONG = re.compile(r"(?P<what>.+?)(?: - at `\$(?P<at>[^`]*)`)?$")


def _key(at: str | None, field: str | None = None, prefix: str = "") -> str:
    # msgspec writes a dict key it does not name as `[...]`: keep it as one `*` segment.
    parts = [p for p in re.split(r"\.|\[|\]", (at or "").replace("[...]", ".*")) if p]
    parts = [p.strip("'\"") for p in parts]
    if prefix:
        parts.insert(0, prefix)
    if field:
        parts.append(field)
    return ".".join(parts) or "(top level)"


def _explain(exc: msgspec.ValidationError, prefix: str = "") -> str:
    text = str(exc)
    if m := _UNKNOWN.match(text):
        return f"unknown key `{_key(m['at'], m['field'], prefix)}`"
    if m := _MISSING.match(text):
        return f"missing required key `{_key(m['at'], m['field'], prefix)}`"
    m = _WRONG.match(text)
    assert m is not None
    return f"`{_key(m['at'], None, prefix)}`: {m['what'].rstrip('.')}"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check(config: Config, where: str) -> None:
    s = config.server
    if not 0 <= s.port <= 65535:
        raise ConfigError(f"{where}: `server.port`: {s.port} is not a port number (0-65535)")
    if s.base_path:
        if not s.base_path.startswith("/") or "//" in s.base_path or ".." in s.base_path:
            raise ConfigError(f"{where}: `server.base_path`: {s.base_path!r} must look like '/lab'")
        s.base_path = s.base_path.rstrip("/")
    for key in ("max_frame", "history", "history_bytes", "send_queue_bytes", "max_in_flight", "max_depth",
                "max_channels", "max_retained_bytes"):
        if getattr(s, key) < 1:
            raise ConfigError(f"{where}: `server.{key}` must be at least 1")
    if s.max_depth > 512:
        # msgspec decodes on the interpreter's stack; deeper than this risks RecursionError.
        raise ConfigError(f"{where}: `server.max_depth` must be at most 512")
    if s.channel_idle < 0:
        raise ConfigError(f"{where}: `server.channel_idle` must not be negative")
    _check_workers(config, where)
    _check_store(config.store, where)
    if s.rate_limit < 0:
        raise ConfigError(f"{where}: `server.rate_limit` must not be negative")
    s.hostnames = [_hostname(name, where) for name in s.hostnames]
    _check_proxies(s.trusted_proxies, where)
    _check_run(config, where)
    check_pages(config.pages, Path(config.base_dir).resolve(), config.resolve, where)
    _check_uploads_outside_pages(config, where)
    check_auth(config.auth, config.tls, where)
    check_admin(config.admin, config.mail, where)
    check_listen(config, where)


def _check_proxies(entries: list[str], where: str) -> None:
    for entry in entries:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise ConfigError(f"{where}: `server.trusted_proxies`: {entry!r} is not an address or a network "
                              "(e.g. \"127.0.0.1\" or \"10.0.0.0/8\")") from None


def _check_store(store: StoreConfig, where: str) -> None:
    """Only a PostgreSQL URL may be given: SQLite is what an absent ``url`` means."""
    from labdeck.store.db import is_postgres, redact

    if store.url is not None and not is_postgres(store.url):
        raise ConfigError(f"{where}: `store.url`: {redact(store.url)!r} is not a PostgreSQL URL (e.g. "
                          "\"postgresql://labdeck@db.example.org:5432/labdeck\"); leave it out for SQLite "
                          "in the data folder")


def _check_workers(config: Config, where: str) -> None:
    """Several processes share channels, history and locks only through Redis."""
    if not 0.1 <= config.broker.lease_ttl <= 3600:
        raise ConfigError(f"{where}: `broker.lease_ttl` must be between 0.1 and 3600 seconds")
    workers = config.server.workers
    if not 1 <= workers <= 64:
        raise ConfigError(f"{where}: `server.workers`: {workers} is not between 1 and 64")
    if workers == 1:
        return
    url = config.broker.url or ""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"{where}: `server.workers` = {workers} needs a shared broker: set [broker] url = "
            "\"redis://127.0.0.1:6379/0\" (or LABDECK_BROKER_URL); with the in-process broker each "
            "process would have channels of its own"
        )
    if config.server.port == 0:
        raise ConfigError(f"{where}: `server.workers` = {workers} needs a fixed `server.port`, not 0")


def _check_uploads_outside_pages(config: Config, where: str) -> None:
    """An upload folder must not lie in a site's files or templates: what a browser uploads
    would be served, or rendered, as one of the server's own pages (a listing's files are
    served sandboxed, so a listing root may hold uploads)."""
    for site_name, site in config.pages.items():
        roots = [("templates", site.templates)] + ([] if site.listing else [("folder", site.folder)])
        for key, root in roots:
            if root is None:
                continue
            for name, entry in config.run.upload_dirs.items():
                path = config.resolve(entry if isinstance(entry, str) else entry.path)
                if path.is_relative_to(config.resolve(root)):
                    raise ConfigError(
                        f"{where}: `run.upload_dirs.{name}`: inside `pages.{site_name}.{key}`, so an upload would "
                        "be served as one of the server's own pages; use a folder outside it (a site with "
                        "`listing = true` may list an upload folder)")


def check_listen(config: Config, where: str = "config") -> None:
    """Listening beyond loopback needs ``[auth] mode = "login"``: open mode makes everyone admin.

    :class:`~labdeck.deck.Deck` checks this again at start, for a :class:`Config` built in
    Python without :func:`load_config`.

    Raises:
        ConfigError: a non-loopback ``server.host`` in open mode; the message says what to do.
    """
    host = config.server.host
    if not is_loopback(host) and config.auth.mode != "login":
        raise ConfigError(
            f"{where}: `server.host`: refusing to listen on non-loopback address {host!r} in [auth] mode "
            "\"open\", where anyone who reaches the server is admin; set [auth] mode = \"login\" and add "
            "a user with `labdeck user add NAME --role admin`"
        )


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")


def _hostname(name: str, where: str) -> str:
    """A ``server.hostnames`` entry as the Host check compares it: lower case, IPv6 in brackets."""
    lowered = name.strip().lower()
    try:
        address = ipaddress.ip_address(lowered.removeprefix("[").removesuffix("]"))
    except ValueError:
        if _HOSTNAME.fullmatch(lowered):
            return lowered.removesuffix(".")
        raise ConfigError(
            f"{where}: `server.hostnames`: {name!r} is not a host name or address "
            "(a name like 'lab.example.org' or an IP address, without scheme, port or path)"
        ) from None
    return f"[{address}]" if address.version == 6 else str(address)


def command_words(command: str | list[str]) -> list[str]:
    """A ``[scripts]`` command as argv: a string is split like a POSIX shell would."""
    if isinstance(command, list):
        return command
    try:
        return shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"command {command!r}: {exc}") from None


def _check_run(config: Config, where: str) -> None:
    """Scripts, their folders and the upload folders must stay inside the project folder."""
    project = Path(config.base_dir).resolve()

    def inside(key: str, p: str) -> None:
        if not config.resolve(p).is_relative_to(project):
            raise ConfigError(f"{where}: `{key}`: {p!r} is outside the project folder {project}")

    for name, entry in config.scripts.items():
        if not name.isidentifier():
            raise ConfigError(f"{where}: `scripts.{name}`: script names are letters, digits and '_'")
        if isinstance(entry, str):
            inside(f"scripts.{name}", entry)
            continue
        try:
            words = command_words(entry.command)
        except ConfigError as exc:
            raise ConfigError(f"{where}: `scripts.{name}.command`: {exc.message}") from None
        if not words:
            raise ConfigError(f"{where}: `scripts.{name}.command` is empty")
        cwd = entry.cwd or "."
        inside(f"scripts.{name}.cwd", cwd)
        for i, word in enumerate(words):
            # A bare program name is looked up on PATH and an absolute one is an installed
            # program (an interpreter): both are the admin's choice. Script files, and
            # programs named relative to the project, must stay inside it.
            if word.endswith(".py") or (i == 0 and "/" in word and not word.startswith("/")):
                inside(f"scripts.{name}.command", str(Path(cwd) / word))
    r = config.run
    for key in ("grace_int", "grace_term"):
        if getattr(r, key) < 0:
            raise ConfigError(f"{where}: `run.{key}` must not be negative")
    if r.upload_max < 1:
        raise ConfigError(f"{where}: `run.upload_max` must be at least 1")

    for name, folder in r.upload_dirs.items():
        if not name or "/" in name or name.startswith("."):
            raise ConfigError(f"{where}: `run.upload_dirs.{name}`: not a usable name")
        if isinstance(folder, UploadDir):
            inside(f"run.upload_dirs.{name}.path", folder.path)
            if folder.max_bytes is not None and folder.max_bytes < 1:
                raise ConfigError(f"{where}: `run.upload_dirs.{name}.max_bytes` must be at least 1")
        else:
            inside(f"run.upload_dirs.{name}", folder)


def import_from(folder: str | os.PathLike[str]) -> None:
    """Let the modules a config names (``[objects]``, ``[pages.<name>] classes``,
    ``--handlers``) sit in ``folder``, as ``python script.py`` finds those beside it. The
    folder comes after the installed packages on ``sys.path``: a file there never shadows
    one of them (a stray ``json.py`` beside the config is not the standard library's)."""
    entry = str(Path(folder).resolve())
    if entry not in sys.path:
        sys.path.append(entry)
