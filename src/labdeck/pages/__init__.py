"""A lab's own pages: static folders and Jinja2 templates served at routes of their own.

* :mod:`labdeck.pages.config` — the ``[pages.<name>]`` tables;
* :mod:`labdeck.pages.paths` — request paths resolved inside a root, never outside;
* :mod:`labdeck.pages.templates` — templates rendered in the dashboard's layout;
* :mod:`labdeck.pages.listing` — directory listings of read-only folders;
* :mod:`labdeck.pages.site` — the routes that serve them.

The web components the pages use (``<deck-value>``, ``<deck-button>``, ...) are ES modules
in the dashboard's static folder, ``static/components/``.
"""

from __future__ import annotations

__all__: list[str] = []
