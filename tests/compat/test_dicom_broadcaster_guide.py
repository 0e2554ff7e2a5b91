"""The DICOM broadcaster's migration guide: its `[watch]` section, as printed, checks files."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from labdeck import Deck
from labdeck.demo.dicom_series import PATIENT, Protocol, SeriesWriter
from labdeck.watch import inotify
from tests.conftest import ws_url
from tests.helpers import WireClient, until

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "howto" / "migrate-dicom-broadcaster.md"
pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux only")


def guide_section() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1, "the guide shows one [watch] section"
    return str(blocks[0])


async def test_the_guides_section_flags_a_tr_changed_halfway_and_knows_the_file_names(
    make_deck: Callable[..., Deck], tmp_path: Path
) -> None:
    config = tmp_path / "labdeck.toml"
    config.write_text(guide_section())
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    deck = make_deck(config)
    await deck.start()
    try:
        async with WireClient(ws_url(deck)) as client:
            await client.request("sub", ch="dicom/AWP167046")
            await until(lambda: deck.capabilities["watch"].health()["ok"], what="the watch to watch")
            bold = Protocol("bold")
            # Two earlier sessions teach the reference (the scanner's names: MR.<series>.<n>.dcm).
            for session, series in ((1, 3), (2, 4)):
                writer = SeriesWriter(incoming / f"s{session}", bold, series=series)
                writer.write()
                writer.write()
            await until(lambda: len(client.pushes["dicom/AWP167046"]) >= 4, what="four findings")
            # Today's series changes TR halfway.
            writer = SeriesWriter(incoming / "s3", bold, series=5)
            writer.write()
            writer.write(bold.changed(tr=2000.0))
            await until(lambda: len(client.pushes["dicom/AWP167046"]) >= 6, what="six findings")
            today = [p["data"] for p in client.pushes["dicom/AWP167046"] if p["data"]["series"] == 5]
            assert [f["conforms"] for f in today] == [True, False]
            assert today[1]["errors"]["TR"] == {"expect": bold.tr, "have": 2000.0}
            pushed = str(client.pushes)
            assert not any(str(value) in pushed for value in PATIENT.values())
    finally:
        await deck.stop()
