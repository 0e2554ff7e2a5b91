"""The research web server's page base class, :class:`HtmlBase`, with the names its documentation
gives: a page is a class, the server makes one instance per request and sends what it returns.

::

    from labdeck.compat.awe import HtmlBase, HtmlTemplate

    class Runs(HtmlBase):
        SessionLifeTime = 600                 # seconds a visitor's session data lives idle
        cookie_name = "runs"                  # preferences remembered from these arguments
        cookie_attrs = ("project", "rows")

        def getHtml(self) -> str:
            page = HtmlTemplate(template_string="<h1>${PROJECT}</h1>")
            page.setVariable("PROJECT", self.getArg("project", default="all"))
            return self.encapsulateBodyHtml(page.getHtml(), title="Runs")

Served through a ``[pages.<name>]`` site's ``classes`` table (see
:mod:`labdeck.pages.classes`), so labdeck's login, roles, Host and Origin checks hold before
a page class sees the request. What the server does with a class, per request:

- ``args`` is every query and form argument as a list of strings by name (``getArg`` reads
  them); an argument named in ``cookie_attrs`` that the request lacks comes from the
  ``cookie_name`` cookie, and one that the request carries is remembered in that cookie for
  ``cookie_lifetime`` days (HttpOnly, SameSite=Lax, Secure under TLS);
- ``global_data`` is the visitor's session data: one dict per visitor and page class, kept
  while the visitor comes back within ``SessionLifeTime`` seconds (``None``: for as long as
  the server runs); when it lapses the server calls ``cleanupUserSession(global_data)``,
  and at each sweep ``cleanupSessions()``;
- the response is ``getHtml()`` (text or bytes) with ``getResponseCode()``,
  ``getContentType()`` and the headers of ``getExtraHeaders()``.

Nothing is escaped for a page that builds HTML by hand: values from a request go through
:class:`~labdeck.compat.awe.HtmlTemplate` (which escapes) or :func:`html.escape`.
``encapsulateBodyHtml`` escapes the title it is given.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from http.cookies import SimpleCookie
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, unquote_plus, urlencode

__all__ = ["DEFAULT_HEADING", "HtmlBase", "remembered"]

DEFAULT_HEADING = (
    '<!DOCTYPE html>\n<html>\n<head>\n <title>%s</title>\n'
    ' <meta http-equiv="content-type" content="text/html; charset=utf-8">\n %s\n')
"""The start of a page up to the end of its head: ``%`` the title, then the extra head."""


class HtmlBase:
    """The base of a page class: derive from it and override ``getHtml`` and the hooks below.

    Args:
        args: the request's arguments, ``{name: [value, ...]}``.
        package_file: the file of the module that defines the page (``__file__``).
        parent: what serves the page; labdeck passes the request's
            :class:`~labdeck.pages.classes.PageRequest` (user, role, path, session data).
    """

    DEFAULT_PAGE: ClassVar[str] = "<html><body><p>This is the HtmlBase class.</p></body></html>"
    SessionLifeTime: ClassVar[float | None] = None
    author_name: ClassVar[str] = ""
    author_email: ClassVar[str] = ""
    cookie_name: ClassVar[str] = "configuration"
    cookie_lifetime: ClassVar[float] = 365
    cookie_attrs: ClassVar[Sequence[str]] = ("project",)
    default_heading: ClassVar[str] = DEFAULT_HEADING

    def __init__(self, args: Mapping[str, list[str]], package_file: str = "", parent: Any = None) -> None:
        self.args = dict(args)
        self.package_file = package_file
        self.parent = parent
        self.global_data: dict[str, Any] = parent.global_data if parent is not None else {}
        self.cookies: list[SimpleCookie] = []

    # -- arguments ---------------------------------------------------------------------

    def getArg(self, arg: str, default: str = "", unquote: bool = False, use_default_for_empty: bool = True) -> str:
        """The first value of argument ``arg``.

        Args:
            default: returned when the argument is absent (or empty, see below).
            unquote: URL-unquote the value once more (for values quoted twice by a form).
            use_default_for_empty: an empty value counts as absent.
        """
        values = self.args.get(arg) or []
        value = values[0] if values else None
        if value is None or (value == "" and use_default_for_empty):
            return default
        return unquote_plus(value) if unquote else value

    def cookieFromArgs(self, cookie_name: str, cookie_lifetime: float, arg_names: Iterable[str]) -> SimpleCookie:
        """A cookie ``cookie_name`` holding the arguments ``arg_names`` the request has, kept
        ``cookie_lifetime`` days; the server sends it with this page."""
        present = {name: self.args[name][0] for name in arg_names if self.args.get(name)}
        cookie: SimpleCookie = SimpleCookie()
        cookie[cookie_name] = urlencode(present)
        cookie[cookie_name]["max-age"] = str(int(cookie_lifetime * 86400))
        self.cookies.append(cookie)
        return cookie

    # -- the page ----------------------------------------------------------------------

    def getHtml(self) -> str | bytes:
        """(override) The body of the response: by default ``DEFAULT_PAGE``."""
        return self.DEFAULT_PAGE

    def encapsulateBodyHtml(self, html_text: str, title: str = "", extra_head: str = "") -> str:
        """``html_text`` as the body of a whole page with ``title`` (escaped) and ``extra_head``
        (markup, as given) in its head."""
        heading = self.default_heading % (html.escape(title), extra_head)
        return f"{heading}</head>\n<body>\n{html_text}\n</body>\n</html>\n"

    def getExtraHeaders(self) -> dict[str, str]:
        """(override) Additional HTTP headers of the response."""
        return {}

    def getContentType(self) -> str:
        """(override) The content type of the response."""
        return "text/html"

    def getResponseCode(self) -> int:
        """(override) The HTTP status of the response."""
        return 200

    # -- class-wide --------------------------------------------------------------------

    @classmethod
    def escapePath(cls, path_var: str) -> str:
        """``path_var`` quoted for use in a URL path."""
        return quote(path_var, safe="/")

    @classmethod
    def cleanupSessions(cls) -> None:
        """(override) Clean obsolete session data of the class; called at every sweep."""

    @classmethod
    def cleanupUserSession(cls, global_data: dict[str, Any]) -> None:
        """(override) Clean one visitor's session data whose ``SessionLifeTime`` has run out."""


def remembered(cookie_value: str) -> dict[str, list[str]]:
    """The arguments a preference cookie of :meth:`HtmlBase.cookieFromArgs` holds."""
    return parse_qs(cookie_value, keep_blank_values=True)
