"""The rate limit's bookkeeping and the crawler verdicts, without a server."""

from __future__ import annotations

import pytest

from labdeck.web.crawlers import is_crawler
from labdeck.web.ratelimit import RateLimit


def test_a_bucket_allows_its_burst_then_one_request_per_refill() -> None:
    limit = RateLimit(per_minute=6)  # one request every 10 s, bursts of 6
    assert [limit.take("10.0.0.1", 100.0) for _ in range(6)] == [0.0] * 6
    assert limit.take("10.0.0.1", 100.0) == pytest.approx(10.0)
    assert limit.take("10.0.0.2", 100.0) == 0.0  # another address has its own bucket
    assert limit.take("10.0.0.1", 105.0) == pytest.approx(5.0)  # a refused request costs nothing
    assert limit.take("10.0.0.1", 110.0) == 0.0
    assert limit.take("10.0.0.1", 110.0) == pytest.approx(10.0)


def test_no_limit_and_bounded_memory() -> None:
    assert all(RateLimit(per_minute=0).take("a", 0.0) == 0.0 for _ in range(1000))
    limit = RateLimit(per_minute=1, max_entries=100)
    for i in range(1000):
        limit.take(f"10.0.{i // 256}.{i % 256}", 0.0)
    assert len(limit._buckets) == 100


@pytest.mark.parametrize(("agent", "crawler"), [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", True),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", True),
    ("facebookexternalhit/1.1", True),
    ("Mozilla/5.0 (compatible; YandexBot/3.0)", True),
    ("Mozilla/5.0 (compatible; Yahoo! Slurp)", True),
    ("ia_archiver (+http://www.alexa.com/site/help/webmasters; crawler@alexa.com)", True),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36", False),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15", False),
    ("curl/8.5.0", False), ("python-requests/2.32.3", False), ("Python/3.11 aiohttp/3.14.5", False), ("", False),
])
def test_crawlers_are_told_by_their_user_agent(agent: str, crawler: bool) -> None:
    assert is_crawler(agent) is crawler
