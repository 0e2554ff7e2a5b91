"""Crawlers: ``/robots.txt``, and public pages only for a client whose User-Agent is a bot's.

``/robots.txt`` serves ``[server] robots`` (by default every crawler is asked to stay
away). A polite crawler obeys it; any other gets only the routes whose access rule is
``public`` (the login form, ``/healthz``, static files, public ``[pages]``): everything
else is a 403, whatever cookie or token it carries, so a link-preview bot never fetches a
page a logged-in person pasted into a chat.

A crawler is recognised by the words crawlers put in their User-Agent (``bot``,
``crawler``, ``spider``, ``slurp``, link-preview fetchers, archivers). Scripts and
command-line clients (curl, python-requests, aiohttp) are not crawlers. Verdicts are kept
per User-Agent value, bounded, so the common request pays one dictionary lookup.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from aiohttp import hdrs, web

from labdeck.web import access

__all__ = ["ROBOTS_PATH", "is_crawler", "middleware", "robots"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ROBOTS_PATH = "/robots.txt"
_CRAWLER: Final = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|archiver|facebookexternalhit|embedly|preview|scrap|"
    r"yandex|baidu|bingpreview|mediapartners|headlesschrome.*(?:lighthouse|pagespeed)",
    re.IGNORECASE,
)
_MAX_REMEMBERED: Final = 256


def is_crawler(user_agent: str) -> bool:
    """Whether ``user_agent`` names a crawler (see the module docstring)."""
    return bool(_CRAWLER.search(user_agent))


def robots(text: str) -> Handler:
    """The handler of ``GET /robots.txt``, serving ``text``."""

    async def serve(request: web.Request) -> web.StreamResponse:
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"Cache-Control": "max-age=3600"})

    return serve


def middleware(rules: Mapping[tuple[str, str], str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware that keeps crawlers to public routes; ``rules`` is the app's live
    ``{(method, route): rule}`` (:data:`labdeck.web.access.RULES_KEY`)."""
    verdicts: dict[str, bool] = {}

    @web.middleware
    async def crawlers(request: web.Request, handler: Handler) -> web.StreamResponse:
        agent = request.headers.get(hdrs.USER_AGENT, "")
        crawler = verdicts.get(agent)
        if crawler is None:
            crawler = is_crawler(agent)
            if len(verdicts) < _MAX_REMEMBERED:
                verdicts[agent] = crawler
        if crawler:
            resource = request.match_info.route.resource
            method = "GET" if request.method == "HEAD" else request.method
            if resource is not None and rules.get((method, resource.canonical)) != access.PUBLIC:
                return web.Response(status=403, text="crawlers may see only the public pages; see /robots.txt\n")
        return await handler(request)

    return crawlers
