"""The object server's YAML keys become labdeck's configuration, policy and call markers; a key
labdeck cannot honour is a one-line error naming it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labdeck.compat.wispy import ChannelValues, RPCWebApp, read_config
from labdeck.config import UploadDir
from labdeck.exceptions import ConfigError
from labdeck.objects.markers import call_options

PROJECT = Path(__file__).with_name("wispy_project")


def test_the_projects_file_maps_onto_labdeck() -> None:
    config, options = read_config(PROJECT / "config.yaml")
    assert (config.server.base_path, config.server.port) == ("/lab", 8890)
    site = config.pages["www"]
    assert (site.route, site.home, config.resolve(site.folder or "")) == ("/www", "index.html", PROJECT / "www")
    folder = config.run.upload_dirs["data"]
    assert isinstance(folder, UploadDir)
    assert (folder.create, folder.overwrite, folder.listable) == (["*.csv"], [], True)
    assert config.resolve(folder.path) == PROJECT / "uploads"
    policy = options.policy
    assert (policy.max_depth, policy.source, policy.max_wait) == (3, False, 0.2)
    assert not policy.exposed(("secret",)) and policy.exposed(("note",))
    assert (options.lock, options.sync) == (True, False)


@pytest.mark.parametrize(
    ("yaml", "names"),
    [
        ("colour: blue\n", "`colour`"),
        ("interface:\n  internals: true\n", "`interface.internals`"),
        ("interface:\n  dunders: true\n", "`interface.dunders`"),
        ("interface:\n  max_depth: -1\n", "`interface.max_depth`"),
        ("caller:\n  lock: maybe\n", "`caller.lock`"),
        ("caller:\n  threads: 4\n", "`caller.threads`"),
        ("static:\n  www:\n    homepage: index.html\n", "`static.www.folder`"),
        ("static:\n  www:\n    folder: www\n    route: /\n", "`static.www.route`"),
        ("static:\n  www:\n    folder: ../../etc\n", "`pages.www.folder`"),
        ("uploads:\n  data:\n    folder: up\n    file_types: ['.csv']\n    create: ['*']\n", "`uploads.data`"),
        ("uploads:\n  data:\n    folder: up\n    mode: 600\n", "`uploads.data.mode`"),
        ("port: many\n", "`server.port`"),
        ("base_path: lab\n", "`server.base_path`"),
        ("labdeck:\n  auth:\n    mode: closed\n", "`auth.mode`"),
        ("labdeck:\n  nonsense: {}\n", "`nonsense`"),
    ],
)
def test_a_key_labdeck_cannot_honour_is_one_line_naming_it(tmp_path: Path, yaml: str, names: str) -> None:
    (tmp_path / "www").mkdir()
    file = tmp_path / "config.yaml"
    file.write_text(yaml, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_config(file)
    message = str(caught.value)
    assert names in message and "\n" not in message and str(file) in message


def test_labdeck_sections_go_under_the_labdeck_key() -> None:
    own = {"auth": {"mode": "login"}, "server": {"port": 1, "debug": True}}
    config, _ = read_config({"port": 9100, "labdeck": own})  # the object server's own key wins
    assert (config.auth.mode, config.server.port, config.server.debug) == ("login", 9100, True)


def test_yaml_is_read_safely(tmp_path: Path) -> None:
    file = tmp_path / "config.yaml"
    file.write_text("port: !!python/object/apply:os.system ['touch pwned']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_config(file)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.tracked_channel_values = {"counter/n": 0}

    def add(self) -> int:
        self.n += 1
        self.tracked_channel_values["counter/n"] = self.n
        return self.n


def test_caller_defaults_mark_unmarked_methods_and_tracked_values_become_channels() -> None:
    app = RPCWebApp(config={"caller": {"lock": True, "sync": True}})
    counter = Counter()
    app.add("counter", counter)
    options = call_options(Counter.add)
    assert options.exclusive is True and options.inline is True
    assert isinstance(counter.tracked_channel_values, ChannelValues)
    assert counter.add() == 1 and counter.tracked_channel_values == {"counter/n": 1}
    assert app.deck.objects.exposed["counter"].obj is counter


def test_the_migration_guide_shows_the_project_that_the_browser_tests_run() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "howto" / "migrate-wispy.md").read_text(encoding="utf-8")
    blocks = dict(re.findall(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", guide, re.S))
    assert set(blocks) == {"app.py", "config.yaml", "www/index.html", "www/app.js"}
    for name, text in blocks.items():
        assert text == (PROJECT / name).read_text(encoding="utf-8"), name
    assert "from labdeck.compat.wispy import RPCWebApp" in blocks["app.py"]
