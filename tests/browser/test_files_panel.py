"""The Files panel as a scientist uses it: see a folder's rules, upload through the picker,
and read the server's refusals beside the files it refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from labdeck import Deck
from tests.browser.conftest import ServerFactory, open_dashboard, screenshot

pytestmark = pytest.mark.browser

LABDECK_TOML = '''\
[scripts]

[run]
upload_dirs = { stimuli = "stimuli", notes = "notes" }
upload_max = 2000
upload_patterns = ["*.csv", "*.txt"]
'''

EVENTS = b"onset,duration,trial_type\n0.0,2.5,face\n4.0,2.5,house\n"


@pytest.fixture
def labs(tmp_path: Path, make_deck: Callable[..., Deck]) -> Iterator[ServerFactory]:
    """Servers for a project written in ``tmp_path/project`` from ``toml``."""

    def make(toml: str = LABDECK_TOML) -> Deck:
        root = tmp_path / "project"
        root.mkdir(exist_ok=True)
        (root / "labdeck.toml").write_text(toml, encoding="utf-8")
        return make_deck(root / "labdeck.toml")

    factory = ServerFactory(make)
    try:
        yield factory
    finally:
        factory.stop_all()


def pick(page: Page, folder: str, name: str, content: bytes) -> None:
    card = page.get_by_test_id(f"files-dir-{folder}")
    card.get_by_test_id("files-input").set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": content}])


def test_upload_list_and_refusals(page: Page, labs: ServerFactory, tmp_path: Path) -> None:
    lab = labs.start()
    open_dashboard(page, lab, "#files")
    card = page.get_by_test_id("files-dir-stimuli")
    expect(card.get_by_test_id("files-rules")).to_have_text(
        "CSV or TXT files up to 2 KB; existing files are kept")
    expect(card.get_by_test_id("files-empty")).to_have_text("No files yet.")
    expect(page.get_by_test_id("files-dir-notes")).to_be_visible()

    pick(page, "stimuli", "events.csv", EVENTS)
    upload = card.get_by_test_id("files-upload").filter(has_text="events.csv")
    expect(upload).to_have_attribute("data-state", "done")
    expect(upload.get_by_test_id("files-upload-status")).to_have_text("uploaded")
    row = card.locator('[data-testid="files-row"][data-name="events.csv"]')
    expect(row.get_by_test_id("files-row-size")).to_have_text(f"{len(EVENTS)} B")
    expect(card.get_by_test_id("files-empty")).to_be_hidden()
    assert (tmp_path / "project" / "stimuli" / "events.csv").read_bytes() == EVENTS

    pick(page, "stimuli", "run.py", b"print('hello')\n")
    refused = card.get_by_test_id("files-upload").filter(has_text="run.py")
    expect(refused).to_have_attribute("data-state", "failed")
    expect(refused.get_by_test_id("files-upload-status")).to_have_text("not allowed")
    expect(refused.get_by_test_id("files-upload-message")).to_contain_text("matches none of the allowed patterns")

    pick(page, "stimuli", "events.csv", b"something else\n")
    again = card.get_by_test_id("files-upload").nth(2)
    expect(again).to_have_attribute("data-state", "failed")
    expect(again.get_by_test_id("files-upload-status")).to_have_text("already exists")
    expect(again.get_by_test_id("files-upload-message")).to_contain_text("already in 'stimuli'")

    pick(page, "stimuli", "big.txt", b"x" * 2001)
    big = card.get_by_test_id("files-upload").filter(has_text="big.txt")
    expect(big.get_by_test_id("files-upload-status")).to_have_text("too large")
    expect(big.get_by_test_id("files-upload-message")).to_contain_text("2,001 bytes is over the limit of 2,000 bytes")

    expect(card.get_by_test_id("files-row")).to_have_count(1)
    assert (tmp_path / "project" / "stimuli" / "events.csv").read_bytes() == EVENTS
    assert sorted(p.name for p in (tmp_path / "project" / "stimuli").iterdir()) == ["events.csv"]
    page.set_viewport_size({"width": 1100, "height": 760})
    screenshot(page, "files-panel.png")

    card.get_by_test_id("files-clear").click()
    expect(card.get_by_test_id("files-upload")).to_have_count(0)


def test_a_file_written_by_someone_else_appears_on_refresh(page: Page, labs: ServerFactory, tmp_path: Path) -> None:
    lab = labs.start()
    open_dashboard(page, lab, "#files")
    card = page.get_by_test_id("files-dir-notes")
    expect(card.get_by_test_id("files-empty")).to_have_text("No files yet.")
    (tmp_path / "project" / "notes").mkdir()
    (tmp_path / "project" / "notes" / "session.txt").write_bytes(b"x" * 3000)
    card.get_by_test_id("files-refresh").click()
    expect(card.get_by_test_id("files-row-name")).to_have_text(["session.txt"])
    expect(card.get_by_test_id("files-row-size")).to_have_text(["2.9 KB"])


def test_a_dropped_file_is_uploaded(page: Page, labs: ServerFactory, tmp_path: Path) -> None:
    lab = labs.start()
    open_dashboard(page, lab, "#files")
    drop = page.get_by_test_id("files-dir-notes").get_by_test_id("files-drop")
    expect(drop).to_be_visible()
    # What the browser hands a page when a file from the desktop is let go over it.
    dropped = page.evaluate_handle("""() => {
        const transfer = new DataTransfer();
        transfer.items.add(new File(["TR 1 fine\\n"], "log.txt", { type: "text/plain" }));
        return transfer;
    }""")
    drop.dispatch_event("dragover", {"dataTransfer": dropped})
    expect(drop).to_have_class("files-drop dragging")
    drop.dispatch_event("drop", {"dataTransfer": dropped})
    expect(drop).to_have_class("files-drop")
    card = page.get_by_test_id("files-dir-notes")
    expect(card.get_by_test_id("files-row-name")).to_have_text(["log.txt"])
    assert (tmp_path / "project" / "notes" / "log.txt").read_bytes() == b"TR 1 fine\n"


def test_no_upload_folders_says_what_to_configure(page: Page, labs: ServerFactory) -> None:
    lab = labs.start(toml="[scripts]\n")
    open_dashboard(page, lab, "#files")
    none = page.get_by_test_id("files-none")
    expect(none).to_be_visible()
    expect(none).to_contain_text("upload_dirs")
    expect(none).to_contain_text("upload_patterns")
    expect(page.get_by_test_id("files-cards").locator(".files-card")).to_have_count(0)
