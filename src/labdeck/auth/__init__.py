"""Identity: users, roles, API tokens, login sessions, login throttling, TLS certificates.

The core the web layer calls; nothing here knows aiohttp. One module per concept:
:mod:`~labdeck.auth.roles`, :mod:`~labdeck.auth.identity`, :mod:`~labdeck.auth.passwords`,
:mod:`~labdeck.auth.users`, :mod:`~labdeck.auth.tokens`, :mod:`~labdeck.auth.sessions`,
:mod:`~labdeck.auth.throttle`, :mod:`~labdeck.auth.config`, :mod:`~labdeck.auth.cert` and
:mod:`~labdeck.auth.cli`. Import from those modules: this package imports none of them,
so ``labdeck --help`` does not load the hashing and certificate libraries.
"""

from __future__ import annotations

__all__: list[str] = []
