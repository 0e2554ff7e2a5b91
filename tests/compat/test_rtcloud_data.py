"""``dataInterface`` on real files: nothing outside the allowed folders and types, whatever
the path looks like; and what ``[rtcloud]`` and the watches of a project allow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labdeck.compat.rtcloud import DataInterface, RequestError, StateError, ValidationError
from labdeck.compat.rtcloud.config import DEFAULT_FILE_TYPES, allowed_by_project
from labdeck.config import load_config
from labdeck.exceptions import ConfigError


@pytest.fixture
def lab(tmp_path: Path) -> tuple[DataInterface, Path]:
    """Allowed: ``tmp/allowed`` with ``.txt`` and ``.dcm``; next to it a secret."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "notes.txt").write_text("ok")
    (allowed / "db.sqlite").write_text("not a type we allow")
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "allowed-not").mkdir()
    (tmp_path / "allowed-not" / "x.txt").write_text("a sibling whose name starts the same")
    (allowed / "out.txt").symlink_to(tmp_path / "secret.txt")
    (allowed / "innocent.txt").symlink_to(allowed / "db.sqlite")
    (allowed / "outside").symlink_to(tmp_path, target_is_directory=True)
    return DataInterface(allowedDirs=[str(allowed)], allowedFileTypes=[".txt", ".dcm"]), allowed


HOSTILE = ["{a}/../secret.txt", "{a}/./../secret.txt", "{a}/out.txt", "{a}/outside/secret.txt", "/etc/passwd",
           "{a}-not/x.txt", "{a}/innocent.txt", "{a}/db.sqlite", "~/.bashrc", "../secret.txt"]


@pytest.mark.parametrize("path", HOSTILE)
def test_no_path_leaves_the_allowed_folders_or_types(lab: tuple[DataInterface, Path], path: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    data, allowed = lab
    monkeypatch.chdir(allowed)  # so that a relative ../ would reach the secret
    target = path.format(a=allowed)
    with pytest.raises(ValidationError):
        data.getFile(target)
    with pytest.raises(ValidationError):
        data.putFile(target, "overwritten")
    assert (allowed.parent / "secret.txt").read_text() == "secret"


def test_allowed_files_are_read_written_and_listed(lab: tuple[DataInterface, Path]) -> None:
    data, allowed = lab
    assert data.getFile(str(allowed / "notes.txt")) == b"ok"
    data.putFile(str(allowed / "run1" / "values.txt"), "0.1\n")
    assert (allowed / "run1" / "values.txt").read_bytes() == b"0.1\n"
    listed = data.listFiles(str(allowed / "**"))
    # the links that lead out, or to a type not allowed, are left out; so is db.sqlite
    assert listed == [str(allowed / "notes.txt"), str(allowed / "run1" / "values.txt")]
    assert data.getNewestFile(str(allowed / "**" / "*.txt")) == b"0.1\n"
    assert data.listDirs(str(allowed / "*")) == [str(allowed / "run1")]
    assert data.getAllowedFileTypes() == [".txt", ".dcm"]
    with pytest.raises(RequestError):
        data.listFiles("relative/**")
    with pytest.raises(ValidationError):
        data.listFiles(str(allowed.parent / "*"))
    with pytest.raises(FileNotFoundError):
        data.getFile(str(allowed / "missing.txt"))


def test_watching_stays_in_the_watched_folder(lab: tuple[DataInterface, Path]) -> None:
    data, allowed = lab
    with pytest.raises(StateError):
        data.watchFile("a.txt")
    with pytest.raises(ValidationError):
        data.initWatch(str(allowed.parent), "*.txt", 0)
    data.initWatch(str(allowed), "*.txt", 0)
    assert data.watchFile("notes.txt", timeout=1) == b"ok"
    with pytest.raises(RequestError):
        data.watchFile(str(allowed.parent / "secret.txt"), timeout=0.05)
    with pytest.raises(ValidationError):
        data.watchFile("out.txt", timeout=0.05)  # the link leads out
    with pytest.raises(TimeoutError):
        data.watchFile("never.txt", timeout=0.05)
    with pytest.raises(ValidationError):
        data.initScannerStream(str(allowed.parent), "scan_{TR:03d}.dcm", 0)


def test_nothing_is_allowed_until_something_is(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no allowed directories"):
        DataInterface(allowedDirs=[], allowedFileTypes=["*"]).getFile(str(tmp_path / "a.txt"))
    with pytest.raises(ValidationError, match="no allowed file types"):
        DataInterface(allowedDirs=[str(tmp_path)], allowedFileTypes=[]).getFile(str(tmp_path / "a.txt"))
    with pytest.raises(RequestError):
        DataInterface(dataRemote=True)


def test_a_project_allows_its_rtcloud_folders_its_watches_and_the_run_folder(tmp_path: Path) -> None:
    (tmp_path / "labdeck.toml").write_text('[watch.scanner]\npath = "incoming"\n'
                                           '[rtcloud]\nallowed_dirs = ["out", "/srv/masks"]\n'
                                           'allowed_file_types = [".dcm"]\n')
    (tmp_path / "sub").mkdir()
    allowed = allowed_by_project(tmp_path / "sub", str(tmp_path / "data" / "runs" / "4"))
    assert allowed.dirs == (tmp_path / "data" / "runs" / "4", tmp_path / "out", Path("/srv/masks"),
                            tmp_path / "incoming")
    assert allowed.file_types == (".dcm",)
    load_config(tmp_path / "labdeck.toml", env={})  # the server reads the same section


def test_without_a_section_the_defaults_and_without_a_project_only_the_run_folder(tmp_path: Path) -> None:
    alone = allowed_by_project(tmp_path, None)
    assert (alone.dirs, alone.file_types) == ((), DEFAULT_FILE_TYPES)
    (tmp_path / "labdeck.toml").write_text("")
    assert allowed_by_project(tmp_path, os.fspath(tmp_path / "r")).dirs == (tmp_path / "r",)


def test_a_bad_rtcloud_section_is_one_clear_error(tmp_path: Path) -> None:
    toml = tmp_path / "labdeck.toml"
    toml.write_text('[rtcloud]\nallowed_dir = ["out"]\n')
    with pytest.raises(ConfigError, match="allowed_dir"):
        load_config(toml, env={})
    with pytest.raises(ValueError, match="allowed_dir"):
        allowed_by_project(tmp_path, None)
