"""The websocket object server's Python API on labdeck: ``RPCWebApp(**objects, config=...)``.

::

    from labdeck.compat.wispy import RPCWebApp

    app = RPCWebApp(sample=Sample(), laser=Laser(), config="config.yaml")
    app.run()

The objects are exposed under their keyword names, the YAML file (read with
``yaml.safe_load``) becomes a labdeck configuration, and the browser script the original
serves is at ``<base path>/wispyjs/rpc.js``. Each key, and what it becomes:

====================================  ==========================================================
YAML key                              labdeck
====================================  ==========================================================
``base_path``                         ``[server] base_path``
``host``, ``port``                    ``[server] host``, ``port``
``static.<name>.folder``              ``[pages.<name>] folder`` (served at ``/<name>``)
``static.<name>.homepage``            ``[pages.<name>] home``
``static.<name>.route``               ``[pages.<name>] route``
``uploads.<name>.folder``             ``[run.upload_dirs.<name>] path``
``uploads.<name>.file_types``         ``create`` patterns ``*<type>`` (``[".csv"]`` → ``*.csv``)
``uploads.<name>.create``             ``create`` (shell patterns a new file must match)
``uploads.<name>.overwrite``          ``overwrite`` (shell patterns of names it may replace)
``uploads.<name>.list_names``         ``listable``
``interface.max_depth``               :class:`~labdeck.objects.Policy` ``max_depth`` + 1 (the
                                      original counts below the object; labdeck counts its name)
``interface.restricted``              ``Policy.deny`` (dotted names under each object)
``interface.source``                  ``Policy.source``
``interface.internals``, ``dunders``  only ``false``: labdeck never exposes names starting with ``_``
``caller.lock``                       ``true``: every unmarked plain method is ``@exclusive``
``caller.sync``                       ``true``: every unmarked plain method is ``@inline``
``caller.max_start_delay``            ``Policy.max_wait`` (seconds a locked call queues)
``labdeck.<section>``                 labdeck's own ``[<section>]`` (``labdeck: {auth: {mode: login}}``)
====================================  ==========================================================

Any other key, or a value labdeck cannot honour, is a :class:`~labdeck.exceptions.ConfigError`
of one line naming the key. An object with a ``tracked_channel_values`` mapping publishes each
of its entries as a channel of the same name, at once and whenever an entry is assigned.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from labdeck.config import Config, config_from_mapping
from labdeck.deck import Deck
from labdeck.exceptions import ConfigError
from labdeck.objects.markers import _OPTIONS_ATTR, exclusive, inline
from labdeck.objects.policy import Policy, is_private
from labdeck.web import access

__all__ = ["WISPYJS_DIR", "ChannelValues", "Options", "RPCWebApp", "read_config"]

WISPYJS_DIR = Path(__file__).with_name("static") / "wispyjs"
"""The browser side: ``rpc.js`` and its elements, served at ``<base path>/wispyjs/``."""

_TOP = {"base_path", "host", "port", "static", "uploads", "interface", "caller", "labdeck"}
_STATIC = {"folder", "homepage", "route"}
_UPLOADS = {"folder", "file_types", "create", "overwrite", "list_names"}
_INTERFACE = {"internals", "dunders", "max_depth", "restricted", "source"}
_CALLER = {"lock", "sync", "max_start_delay"}


class Options:
    """What the YAML file says beyond labdeck's own configuration: the policy and the
    caller's defaults for every exposed object."""

    def __init__(self, policy: Policy, lock: bool, sync: bool) -> None:
        self.policy = policy
        self.lock = lock
        self.sync = sync


def read_config(source: str | os.PathLike[str] | Mapping[str, Any] | None) -> tuple[Config, Options]:
    """The labdeck configuration and object options of a YAML file (or its mapping).

    Raises:
        ConfigError: the file cannot be read or parsed, or a key is unknown, of the wrong
            type, or asks for what labdeck cannot do (one line naming the key).
    """
    where, base_dir, raw = _load(source)
    _keys(raw, _TOP, "", where)
    tables: dict[str, Any] = {"server": {}}
    for key in ("base_path", "host", "port"):
        if key in raw:
            tables["server"][key] = raw[key]
    tables["pages"] = {name: _site(name, entry, where) for name, entry in _table(raw, "static", where).items()}
    uploads = {name: _upload(name, entry, where) for name, entry in _table(raw, "uploads", where).items()}
    if uploads:
        tables["run"] = {"upload_dirs": uploads}
    for section, table in _table(raw, "labdeck", where).items():  # labdeck's own, as in labdeck.toml
        tables[section] = {**table, **tables.get(section, {})}
    config = config_from_mapping(tables, base_dir=base_dir, where=where)
    return config, _options(raw, where)


def _load(source: str | os.PathLike[str] | Mapping[str, Any] | None) -> tuple[str, Path, dict[str, Any]]:
    if source is None:
        return "defaults", Path.cwd(), {}
    if isinstance(source, Mapping):
        return "config", Path.cwd(), dict(source)
    file = Path(source)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read config file: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {' '.join(str(exc).split())}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the file must hold a mapping of keys")
    return str(file), file.resolve().parent, raw


def _keys(table: Mapping[str, Any], known: set[str], prefix: str, where: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{where}: `{prefix}{key}`: not a key labdeck knows (known: {', '.join(sorted(known))})")


def _table(raw: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: `{key}` must be a mapping")
    for name, entry in value.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: `{key}.{name}` must be a mapping")
    return value


def _site(name: str, entry: dict[str, Any], where: str) -> dict[str, Any]:
    _keys(entry, _STATIC, f"static.{name}.", where)
    if "folder" not in entry:
        raise ConfigError(f"{where}: `static.{name}.folder` is required")
    site: dict[str, Any] = {"folder": entry["folder"], "role": "viewer"}
    if "homepage" in entry:
        site["home"] = entry["homepage"]
    if "route" in entry:
        if entry["route"] in ("", "/"):
            raise ConfigError(f"{where}: `static.{name}.route`: '/' is labdeck's dashboard; use a route like '/{name}'")
        site["route"] = entry["route"]
    return site


def _upload(name: str, entry: dict[str, Any], where: str) -> dict[str, Any]:
    _keys(entry, _UPLOADS, f"uploads.{name}.", where)
    if "folder" not in entry:
        raise ConfigError(f"{where}: `uploads.{name}.folder` is required")
    folder: dict[str, Any] = {"path": entry["folder"]}
    if "file_types" in entry and "create" in entry:
        raise ConfigError(f"{where}: `uploads.{name}`: give `file_types` or `create` patterns, not both")
    if "file_types" in entry:
        types = _strings(entry, "file_types", name, where)
        folder["create"] = [f"*{t}" if t.startswith(".") else t for t in types]
    if "create" in entry:
        folder["create"] = _strings(entry, "create", name, where)
    if "overwrite" in entry:
        folder["overwrite"] = _strings(entry, "overwrite", name, where)
    if "list_names" in entry:
        folder["listable"] = entry["list_names"]
    return folder


def _strings(entry: Mapping[str, Any], key: str, name: str, where: str) -> list[str]:
    value = entry[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: `uploads.{name}.{key}` must be a list of strings")
    return value


def _options(raw: Mapping[str, Any], where: str) -> Options:
    iface = raw.get("interface") or {}
    caller = raw.get("caller") or {}
    for key, table, known in (("interface", iface, _INTERFACE), ("caller", caller, _CALLER)):
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: `{key}` must be a mapping")
        _keys(table, known, f"{key}.", where)
    for key in ("internals", "dunders"):
        if iface.get(key, False) is not False:
            raise ConfigError(f"{where}: `interface.{key}`: labdeck never exposes names starting with '_'; only false")
    depth = iface.get("max_depth", 3)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise ConfigError(f"{where}: `interface.max_depth` must be a whole number, 0 or more")
    restricted = iface.get("restricted", [])
    if not isinstance(restricted, list) or not all(isinstance(r, str) and r for r in restricted):
        raise ConfigError(f"{where}: `interface.restricted` must be a list of attribute names")
    delay = caller.get("max_start_delay", 10.0)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise ConfigError(f"{where}: `caller.max_start_delay` must be seconds, 0 or more")
    flags = {}
    for table, prefix, key in ((iface, "interface", "source"), (caller, "caller", "lock"), (caller, "caller", "sync")):
        flags[key] = table.get(key, False)
        if not isinstance(flags[key], bool):
            raise ConfigError(f"{where}: `{prefix}.{key}` must be true or false")
    policy = Policy(max_depth=depth + 1, deny=restricted, source=flags["source"], max_wait=float(delay))
    return Options(policy, lock=flags["lock"], sync=flags["sync"])


class ChannelValues(dict[str, Any]):
    """An object's ``tracked_channel_values``: assigning an entry publishes it on the
    channel of that name (and the channel keeps it for browsers that join later)."""

    def __init__(self, values: Mapping[str, Any], publish: Callable[[str, Any], None]) -> None:
        super().__init__(values)
        self._publish = publish
        for channel, value in values.items():
            publish(channel, value)

    def __setitem__(self, channel: str, value: Any) -> None:
        super().__setitem__(channel, value)
        self._publish(channel, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for channel, value in dict(*args, **kwargs).items():
            self[channel] = value


def _mark_defaults(obj: Any, options: Options) -> None:
    """Give the unmarked public methods of ``obj``'s class the caller's defaults. A method
    that already carries a marker (``@exclusive``, ``@inline``, ``@exposed``) keeps it."""
    if not (options.lock or options.sync):
        return
    for name, member in _methods(type(obj)):
        if is_private(name) or hasattr(member, _OPTIONS_ATTR) or inspect.iscoroutinefunction(member):
            continue
        if options.lock:
            exclusive(member)
        if options.sync:
            inline(member)


def _methods(cls: type) -> Iterable[tuple[str, Any]]:
    for klass in cls.__mro__[:-1]:  # not object's own
        for name, member in vars(klass).items():
            if inspect.isfunction(member):
                yield name, member


class RPCWebApp:
    """The object server: ``objects`` exposed by name, configured by a YAML file.

    Args:
        config: the YAML file, a mapping of the same keys, or ``None`` for the defaults.
        **objects: the objects to expose, by the name the browser uses (``rpc.<name>``).

    Raises:
        ConfigError: the configuration is invalid (see the module docstring).
        ValueError: an object cannot be exposed (a module, a class, a private name).
    """

    def __init__(self, config: str | os.PathLike[str] | Mapping[str, Any] | None = None, **objects: Any) -> None:
        labdeck_config, self.options = read_config(config)
        self.deck = Deck(labdeck_config)
        self.deck.routes.append(_serve_wispyjs)
        for name, obj in objects.items():
            self.add(name, obj)

    def add(self, name: str, obj: Any) -> None:
        """Expose one more object (before :meth:`run`)."""
        values = getattr(obj, "tracked_channel_values", None)
        if isinstance(values, Mapping) and not isinstance(values, ChannelValues):
            obj.tracked_channel_values = ChannelValues(values, self.deck.publish)
        _mark_defaults(obj, self.options)
        self.deck.expose(name, obj, self.options.policy)

    @property
    def url(self) -> str:
        """The server's address, base path included (once started)."""
        return self.deck.url

    def run(self) -> None:
        """Serve until interrupted (Ctrl-C)."""
        self.deck.run()

    def run_in_thread(self, timeout: float = 10.0) -> None:
        """Serve from a background thread; returns once listening. Stop with :meth:`shutdown`."""
        self.deck.run_in_thread(timeout)

    def shutdown(self) -> None:
        """Stop a server started with :meth:`run_in_thread` and wait for it."""
        self.deck.shutdown()
        self.deck.join()


def _serve_wispyjs(app: web.Application) -> None:
    access.add_static(app, "/wispyjs/", WISPYJS_DIR)
