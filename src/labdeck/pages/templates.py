"""Jinja2 templates of a site, rendered in the dashboard's layout.

A template extends ``labdeck/layout.html`` and fills its blocks::

    {% extends "labdeck/layout.html" %}
    {% block title %}Stimulus{% endblock %}
    {% block content %}
      <h1>{{ values.title }}</h1>
      <deck-value channel="run/status" field="state"></deck-value>
    {% endblock %}

The layout brings the dashboard's style sheet, a top bar with navigation (the dashboard
and every site the user may see), the login state with a logout button, the connection
state, and the web components (``static/components/deck-components.js``).

What a template sees: ``values`` (the site's ``values`` table), ``project`` (``version``,
``scripts``, ``config``: the project's default script configuration, ``pages``: the sites
by name), ``user``, ``role``, ``via``, ``mode``, ``base`` (the base path), ``site``
(``name``, ``route``), ``nav``, ``path`` and ``query``.

Safety: autoescaping is on for every template (a value is text, never markup, unless a
template says ``|safe``); the environment is Jinja2's sandbox, so a template cannot reach
Python internals through a value; a template name resolves inside the site's template
folder by the rules of :mod:`labdeck.pages.paths`, symlinks included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from labdeck.exceptions import NotFound
from labdeck.pages.paths import resolve_inside

__all__ = ["BUILTIN_TEMPLATES", "RootedLoader", "Templates"]

BUILTIN_TEMPLATES = Path(str(resources.files("labdeck.pages").joinpath("templates")))


class RootedLoader(jinja2.BaseLoader):
    """Loads templates from one folder; a name that leads outside it is not found."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        try:
            path = resolve_inside(self.root, template)
        except NotFound:
            raise jinja2.TemplateNotFound(template) from None
        if not path.is_file():
            raise jinja2.TemplateNotFound(template)
        mtime = path.stat().st_mtime
        text = path.read_text(encoding="utf-8", errors="replace")

        def fresh() -> bool:
            try:
                return path.stat().st_mtime == mtime
            except OSError:
                return False

        return text, str(path), fresh


class Templates:
    """The templates of one site (``folder`` may be ``None``: only the built-in ones)."""

    def __init__(self, folder: Path | None) -> None:
        loaders: list[jinja2.BaseLoader] = [jinja2.PrefixLoader({"labdeck": RootedLoader(BUILTIN_TEMPLATES)})]
        if folder is not None:
            loaders.append(RootedLoader(folder))
        self.folder = folder
        self.env = SandboxedEnvironment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                                        undefined=jinja2.ChainableUndefined, auto_reload=True)

    def has(self, name: str) -> bool:
        """Whether the site's own folder holds the template ``name`` (built-ins do not count)."""
        if self.folder is None:
            return False
        try:
            return resolve_inside(self.folder, name).is_file()
        except NotFound:
            return False

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """``name`` rendered with ``context``.

        Raises:
            NotFound: no such template.
            jinja2.TemplateError: the template is broken (the caller logs it; the
                browser gets a plain 500).
        """
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise NotFound(f"no page {name!r}") from None
        return template.render(context)
