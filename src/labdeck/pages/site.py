"""The routes of the lab's own pages: one ``GET <route>/{tail}`` per ``[pages.<name>]`` site.

What a request below a site's route gets, first match wins:

1. the route itself without the slash: a redirect to ``<route>/``;
2. a page of the site's ``classes`` (``GET`` or ``POST``): the page class's response
   (:mod:`labdeck.pages.classes`);
3. a folder (the route, or ``.../`` below it): the ``home`` template, else the folder's
   ``home`` file, else its listing when ``listing = true``, else 404;
4. a template of the site named ``tail`` or ``tail.html``: rendered in the layout
   (:mod:`labdeck.pages.templates`);
5. a file of the site's folder (never one inside its template folder): served with its
   standard content type, ``Last-Modified``, ``ETag`` and range requests; a file of a
   ``listing`` site is data, not a page of the server, so it is served sandboxed (its
   own Content-Security-Policy ``sandbox``: an HTML file there runs no script as the
   server's origin);
6. a folder without the slash: a redirect to it with the slash;
7. anything else, and anything that breaks the path rules: 404.

Who may see a site is its ``role``; ``public`` sites need no login. Rendering a template
or a listing counts against the per-address rate limit (:mod:`labdeck.web.ratelimit`).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import tomllib
from pathlib import Path
from typing import Any

from aiohttp import web

from labdeck import __version__
from labdeck.config import Config
from labdeck.exceptions import BadRequest, NotFound, Unauthenticated
from labdeck.pages.classes import PageClasses, load_classes
from labdeck.pages.config import PageSite
from labdeck.pages.filecache import SmallFiles
from labdeck.pages.listing import COLUMNS, list_folder
from labdeck.pages.paths import resolve_inside
from labdeck.pages.templates import Templates
from labdeck.types import has_role
from labdeck.web import access, ratelimit
from labdeck.web.auth import CLIENT_KEY, GATE_KEY, client_of

__all__ = ["Site", "add_pages"]

log = logging.getLogger(__name__)

MAX_LISTED = 5000
"""Entries a listing shows at most; it says how many more there are."""
SANDBOXED = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self'"
"""The Content-Security-Policy of a file from a listing: shown, never run as the server's page."""


def add_pages(app: web.Application, config: Config) -> list[Site]:
    """Add the routes of every ``[pages]`` site to ``app``; returns the sites."""
    sites = [Site(name, site, config) for name, site in config.pages.items()]
    gate = app[GATE_KEY]
    for site in sites:
        rule = access.PUBLIC if site.config.role == "public" else site.config.role
        access.add(app, "GET", site.route, site.redirect_home, rule)
        access.add(app, "GET", site.route + "/{tail:.*}", site.handle, rule)
        app.router.add_route("HEAD", site.route + "/{tail:.*}", site.handle)  # GET's rule, without the body
        if site.classes.classes:
            access.add(app, "POST", site.route + "/{tail:.*}", site.handle, rule)
        gate.pages.append(site.route)
        if rule == access.PUBLIC:
            gate.public_pages.append(site.route)
    for site in sites:
        site.others = sites

    async def close_sessions(_: web.Application) -> None:
        for site in sites:
            site.classes.close()

    app.on_cleanup.append(close_sessions)
    return sites


def _project_config(config: Config) -> dict[str, Any]:
    path = config.run.default_config
    if path is None:
        return {}
    try:
        return tomllib.loads(config.resolve(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.warning("pages: the project's default configuration %s is unreadable: %s", path, exc)
        return {}


class Site:
    """One ``[pages.<name>]`` site (see the module docstring)."""

    def __init__(self, name: str, site: PageSite, config: Config) -> None:
        self.name = name
        self.config = site
        self.route = site.route
        self.base = config.server.base_path
        self.folder = config.resolve(site.folder) if site.folder is not None else None
        self.template_root = config.resolve(site.templates) if site.templates is not None else None
        self.templates = Templates(self.template_root)
        self.classes = PageClasses(load_classes(site.classes, f"pages.{name}"), self.base + site.route,
                                   config.tls.enabled)
        pages = {n: {"route": f"{self.base}{p.route}/"} for n, p in config.pages.items()}
        self.project = {"version": __version__, "scripts": list(config.scripts), "config": _project_config(config),
                        "pages": pages}
        self.others: list[Site] = []
        self.file_headers = {"Cache-Control": "no-cache"}
        self.small = SmallFiles()
        if site.listing:
            self.file_headers["Content-Security-Policy"] = SANDBOXED

    def visible_to(self, role: str) -> bool:
        return self.config.role == "public" or has_role(role, self.config.role)

    async def redirect_home(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(f"{self.base}{self.route}/")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        client = client_of(request)
        if not self.visible_to(client.role):
            return web.Response(status=403, text=f"the page {self.name} needs the {self.config.role} role\n")
        tail = request.match_info["tail"]
        page_class = self.classes.find(tail)
        if page_class is not None:
            ratelimit.charge(request)
            return await self.classes.serve(request, page_class, client)
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        try:
            return await self._serve(request, tail)
        except NotFound:
            return web.Response(status=404, text="no such page\n")
        except BadRequest as exc:
            return web.Response(status=400, text=exc.message + "\n")

    async def _serve(self, request: web.Request, tail: str) -> web.StreamResponse:
        if tail == "" or tail.endswith("/"):
            return await self._folder(request, tail)
        for name in (tail, tail + ".html"):
            if self.templates.has(name):
                return await self.render(request, name)
        path = self._file(tail)
        if path.is_dir():
            raise web.HTTPPermanentRedirect(request.path + "/")
        cached = self.small.response(request, path, self.file_headers)
        return cached or web.FileResponse(path, headers=self.file_headers)

    def _file(self, tail: str) -> Path:
        """The file or folder ``tail`` names in the site's folder, outside its templates."""
        if self.folder is None:
            raise NotFound("no such file")
        path = resolve_inside(self.folder, tail)
        if self.template_root is not None and path.is_relative_to(self.template_root.resolve()):
            raise NotFound("no such file")
        return path

    async def _folder(self, request: web.Request, tail: str) -> web.StreamResponse:
        home = self.config.home
        if tail == "" and self.templates.has(home):
            return await self.render(request, home)
        folder = self._file(tail)
        if not folder.is_dir():
            raise NotFound("no such folder")
        if (folder / home).is_file() and not (folder / home).is_symlink():
            return web.FileResponse(folder / home, headers=self.file_headers)
        if not self.config.listing:
            raise NotFound("no such page")
        ratelimit.charge(request)
        assert self.folder is not None
        sort, order = request.query.get("sort", "name"), request.query.get("order", "asc")
        entries = list_folder(folder, self.folder, sort, order)
        return await self._page(request, "labdeck/listing.html", {
            "folder": f"{self.route}/{tail}", "entries": entries[:MAX_LISTED], "columns": COLUMNS, "sort": sort,
            "order": order, "parent": tail != "", "more": max(0, len(entries) - MAX_LISTED)})

    async def render(self, request: web.Request, name: str) -> web.StreamResponse:
        ratelimit.charge(request)
        return await self._page(request, name, {})

    async def _page(self, request: web.Request, name: str, extra: dict[str, Any]) -> web.StreamResponse:
        if client_of(request).via == "anonymous":  # a public page: who it is, for the top bar
            with contextlib.suppress(Unauthenticated):
                request[CLIENT_KEY] = await request.app[GATE_KEY].identify(request)
        try:
            text = self.templates.render(name, {**self.context(request), **extra})
        except NotFound:
            raise
        except Exception:
            error = secrets.token_hex(4)
            log.exception("pages: the template %s of %s failed [error %s]", name, self.name, error)
            return web.Response(status=500, text=f"the page could not be made (error {error})\n")
        return web.Response(text=text, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store"})

    def context(self, request: web.Request) -> dict[str, Any]:
        """What every template of the site sees (see :mod:`labdeck.pages.templates`)."""
        client = client_of(request)
        gate = request.app[GATE_KEY]
        nav = [{"title": "Dashboard", "href": f"{self.base}/", "current": False}]
        nav += [{"title": s.name, "href": f"{self.base}{s.route}/", "current": s is self}
                for s in self.others if s.visible_to(client.role)]
        return {"values": self.config.values, "project": self.project, "user": client.user, "role": client.role,
                "via": client.via, "mode": gate.mode, "base": self.base, "nav": nav, "path": request.path,
                "site": {"name": self.name, "route": self.route}, "query": dict(request.query)}
