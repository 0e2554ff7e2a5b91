"""The ``[pages.<name>]`` tables: a lab's own pages, each a site at a route of its own.

::

    [pages.stimulus]
    route = "/stimulus"          # default: /<name>
    folder = "pages/stimulus"    # static files: HTML, CSS, images (served as they are)
    templates = "pages/templates"  # Jinja2 templates, rendered in the dashboard's layout
    home = "index.html"          # what the route itself shows: a template, else a file
    role = "viewer"              # who may see it: viewer, operator, admin, or public
    listing = false              # a folder without home lists its files (read-only)
    values = { title = "Stimulus" }  # values the templates see as `values`
    classes = { "" = "lab.pages:Home", "runs" = "lab.pages:Runs" }  # page classes by page

A site needs a ``folder``, ``templates``, ``classes`` or several (page classes: see
:mod:`labdeck.pages.classes`). Paths are relative to the config file
and must stay inside the project folder; routes must not take the server's own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

from labdeck.exceptions import ConfigError

__all__ = ["RESERVED_ROUTES", "ROLES", "PageSite", "check_pages"]

_ROUTE = re.compile(r"(/[A-Za-z0-9][A-Za-z0-9._-]{0,63}){1,8}")
RESERVED_ROUTES = frozenset({"ws", "api", "static", "login", "logout", "admin", "metrics", "healthz",
                             "robots.txt", "favicon.ico"})
"""First route segments that belong to the server itself."""
ROLES = ("public", "viewer", "operator", "admin")


class PageSite(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One ``[pages.<name>]`` table (see the module docstring)."""

    route: str = ""
    folder: str | None = None
    templates: str | None = None
    home: str = "index.html"
    role: str = "viewer"
    listing: bool = False
    values: dict[str, Any] = msgspec.field(default_factory=dict)
    classes: dict[str, str] = msgspec.field(default_factory=dict)


def check_pages(pages: dict[str, PageSite], project: Path, resolve: Any, where: str) -> None:
    """Validate every site beyond types; fills in the default route.

    Args:
        pages: the decoded ``[pages]`` tables, by name.
        project: the project folder every path must stay inside.
        resolve: makes a path from the file absolute (:meth:`labdeck.config.Config.resolve`).
        where: the config file, for the error.

    Raises:
        ConfigError: one line naming the key.
    """
    routes: dict[str, str] = {}
    for name, site in pages.items():
        key = f"pages.{name}"
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            raise ConfigError(f"{where}: `{key}`: site names are letters, digits, '_' and '-'")
        site.route = (site.route or f"/{name}").rstrip("/")
        if not _ROUTE.fullmatch(site.route) or ".." in site.route:
            raise ConfigError(f"{where}: `{key}.route`: {site.route!r} must look like '/stimulus'")
        if site.route.split("/")[1].lower() in RESERVED_ROUTES:
            raise ConfigError(f"{where}: `{key}.route`: {site.route!r} is one of the server's own routes")
        if site.route in routes:
            raise ConfigError(f"{where}: `{key}.route`: {site.route!r} is also the route of pages.{routes[site.route]}")
        routes[site.route] = name
        if site.folder is None and site.templates is None and not site.classes:
            raise ConfigError(f"{where}: `{key}`: needs a `folder`, `templates` or `classes`")
        for page in site.classes:
            if page != "" and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", page):
                raise ConfigError(f"{where}: `{key}.classes`: {page!r} must be \"\" or one plain name like 'runs'")
        for field in ("folder", "templates"):
            value = getattr(site, field)
            if value is not None and not resolve(value).is_relative_to(project):
                raise ConfigError(f"{where}: `{key}.{field}`: {value!r} is outside the project folder {project}")
        if site.role not in ROLES:
            raise ConfigError(f"{where}: `{key}.role`: {site.role!r} is not one of {', '.join(ROLES)}")
        if "/" in site.home or site.home.startswith(".") or not site.home:
            raise ConfigError(f"{where}: `{key}.home`: {site.home!r} must be a plain file name")
