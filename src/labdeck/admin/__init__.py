"""The server's own services for its admin: request statistics, the audit log, runtime
switches, maintenance mode, periodic jobs and the daily error mail.

The web adapters (routes, the admin page, error pages) are in :mod:`labdeck.web`; what is
here knows nothing of HTTP.
"""

from __future__ import annotations

__all__: list[str] = []
