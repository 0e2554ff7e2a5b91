"""Periodic jobs: the scheduler, and each job against the real thing it works on
(the store, a log file, a local SMTP server the test starts)."""

from __future__ import annotations

import asyncio
import email
import logging
import time
from collections.abc import Callable, Iterator
from email.message import Message
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from labdeck import Deck
from labdeck.admin.jobs import Job, Scheduler, next_at
from tests.helpers import free_port, http_session, scaled, until


class Inbox:
    """An SMTP handler for aiosmtpd that keeps what it receives."""

    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


def body_of(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on a loopback port: ``(inbox, port)``."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def run_job(http: aiohttp.ClientSession, deck: Deck, name: str) -> dict[str, Any]:
    async with http.post(deck.url + f"api/admin/jobs/{name}/run") as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def test_the_daily_mail_sends_new_errors_once_to_a_local_smtp_server(
        make_deck: Callable[..., Deck], smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    deck = make_deck(mail_host="127.0.0.1", mail_port=port, mail_to=["admin@lab.example"],
                     mail_sender="labdeck@lab.example")
    await deck.start()
    try:
        async with http_session(deck.url) as http:
            assert (await run_job(http, deck, "mail"))["last_result"] == "no new errors: no mail"
            logging.getLogger("labdeck.cap.stage").error("stage motor stalled at %d mm", 12)
            logging.getLogger("labdeck.cap.stage").warning("only a warning: not mailed")
            job = await run_job(http, deck, "mail")
            assert job["last_ok"] is True and job["last_result"].startswith("mailed 1 errors")
            (sender, to, mail), = inbox.mails
            assert (sender, to) == ("labdeck@lab.example", ["admin@lab.example"])
            assert mail["Subject"].endswith("1 new error")
            text = body_of(mail)
            assert "stage motor stalled at 12 mm" in text and "labdeck.cap.stage" in text
            assert "only a warning" not in text
            assert (await run_job(http, deck, "mail"))["last_result"] == "no new errors: no mail"
            assert len(inbox.mails) == 1  # an error is mailed once
            async with http.get(deck.url + "api/admin/audit") as resp:
                assert [e["detail"] for e in (await resp.json())["entries"]][:3] == [{"job": "mail"}] * 3
    finally:
        await deck.stop()


async def test_a_mail_server_that_is_down_fails_the_job_and_keeps_the_errors(
        make_deck: Callable[..., Deck], smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    deck = make_deck(mail_host="127.0.0.1", mail_port=free_port(), mail_to=["admin@lab.example"])
    await deck.start()
    try:
        logging.getLogger("labdeck.cap.stage").error("lost")
        async with http_session(deck.url) as http:
            job = await run_job(http, deck, "mail")
            assert job["last_ok"] is False and "ConnectionRefusedError" in job["last_result"]
            deck.config.mail.port = port  # the mail server is back
            assert (await run_job(http, deck, "mail"))["last_result"].startswith("mailed")
        assert "lost" in body_of(inbox.mails[0][2])
    finally:
        await deck.stop()


async def test_the_jobs_are_listed_with_last_and_next_run_and_logs_rotate(make_deck: Callable[..., Deck]) -> None:
    deck = make_deck(admin_log_file="labdeck.log", admin_log_days=2)
    await deck.start()
    try:
        async with http_session(deck.url) as http:
            async with http.get(deck.url + "api/admin/jobs") as resp:
                jobs = {j["name"]: j for j in (await resp.json())["jobs"]}
            assert set(jobs) == {"sessions", "stats", "logs", "history", "mail"}
            assert all(j["next_run"] > time.time() and j["last_run"] is None for j in jobs.values())
            log_file = deck.config.data_dir / "labdeck.log"
            for i in range(3):
                logging.getLogger("labdeck.test").warning("line %d", i)
                job = await run_job(http, deck, "logs")
                assert job["last_ok"] and job["runs"] == i + 1 and job["last_run"] <= time.time()
                await asyncio.sleep(0.002)  # rotated files are named by the millisecond
            rotated = sorted(p.name for p in log_file.parent.glob("labdeck.log.*"))
            assert len(rotated) == 2  # log_days = 2: the oldest went
            assert "line 2" in (log_file.parent / rotated[-1]).read_text()
            logging.getLogger("labdeck.test").warning("after")
            assert "after" in log_file.read_text()
            async with http.post(deck.url + "api/admin/jobs/nosuch/run") as resp:
                assert resp.status == 404
    finally:
        await deck.stop()


async def test_the_scheduler_runs_jobs_at_their_times_and_survives_a_failing_one() -> None:
    ran: list[str] = []

    async def good() -> str:
        ran.append("good")
        return "fine"

    async def bad() -> str:
        ran.append("bad")
        raise RuntimeError("disk full")

    scheduler = Scheduler()
    scheduler.add(Job("good", "good", good, every=0.05, first=0.0))
    scheduler.add(Job("bad", "bad", bad, every=0.05, first=0.0))
    scheduler.start()
    try:
        await until(lambda: ran.count("good") >= 3 and ran.count("bad") >= 3, timeout=scaled(5), what="runs")
    finally:
        await scheduler.stop()
    info = {j["name"]: j for j in scheduler.info()}
    assert info["good"]["last_ok"] is True and info["bad"]["last_ok"] is False
    assert info["bad"]["last_result"] == "failed: RuntimeError: disk full"
    assert 0 < next_at(7, time.time()) - time.time() <= 86400
