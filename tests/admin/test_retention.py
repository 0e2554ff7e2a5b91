"""What the jobs remove, and what they keep, on a real store."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from labdeck import Deck, load_config
from labdeck.admin.stats import RequestStats
from labdeck.exceptions import ConfigError
from labdeck.store import Store
from tests.helpers import http_session
from tests.web.conftest import run_history, write_lab


def test_per_day_rows_past_the_retention_go_and_the_totals_stay(tmp_path: Path) -> None:
    store = Store(tmp_path / "labdeck.sqlite")
    try:
        stats = RequestStats()
        now = time.time()
        store.run_sync(lambda db: stats.load(db, now))
        for days_ago in (0, 5, 40):
            stats.count("GET", "/healthz", 200, 10, False, 0.001, now - days_ago * 86400)
        pending = stats.take()
        assert store.run_sync(lambda db: stats.write(db, pending, 30, now)) == 3
        days = [r[0] for r in store.query_sync("SELECT day FROM request_days ORDER BY day")]
        assert len(days) == 2 and days[-1] == time.strftime("%Y-%m-%d", time.gmtime(now))
        (total,) = store.query_sync("SELECT requests, bytes_out FROM request_totals")
        assert tuple(total) == (3, 30)
    finally:
        store.close()


async def test_the_history_job_deletes_runs_past_history_days_only(make_deck: Callable[..., Deck],
                                                                   tmp_path: Path) -> None:
    deck = make_deck(write_lab(tmp_path / "lab", "[admin]\nhistory_days = 30\n"))
    await deck.start()
    try:
        old, recent = await run_history(deck, 2)
        assert deck.store is not None
        await deck.store.execute("UPDATE runs SET ended = ? WHERE id = ?", (time.time() - 31 * 86400, old))
        async with http_session(deck.url) as http:
            async with http.post(deck.url + "api/admin/jobs/history/run") as resp:
                assert (await resp.json())["last_result"].startswith("1 runs")
            async with http.get(deck.url + "api/runs") as resp:
                assert [r["id"] for r in (await resp.json())["runs"]] == [recent]
    finally:
        await deck.stop()


@pytest.mark.parametrize(("toml", "message"), [
    ('[mail]\nhost = "smtp.lab.example"\n', "`mail.to` lists nobody"),
    ('[mail]\nhost = "smtp"\nto = ["not an address"]\n', "is not a mail address"),
    ('[mail]\nhour = 24\n', "`mail.hour` must be 0-23"),
    ('[admin]\nstats_days = 0\n', "`admin.stats_days` must be at least 1"),
    ('[admin]\nhistory_days = -1\n', "`admin.history_days` must not be negative"),
    ('[admin]\nkeep = 3\n', "unknown key `admin.keep`"),
])
def test_bad_admin_and_mail_settings_name_the_key(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "labdeck.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path, env={})
