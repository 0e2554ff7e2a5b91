"""The ``[auth]`` and ``[tls]`` config sections.

They are defined here, beside the code that reads them; :mod:`labdeck.config` embeds them
in the whole file. :func:`check` is the validation beyond types.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from labdeck.exceptions import ConfigError

__all__ = ["AuthConfig", "TlsConfig", "check"]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class AuthConfig(_Section):
    """``[auth]``: who may use the server.

    ``open`` lets everyone who reaches the server act as admin, so it is only allowed on a
    loopback address; ``login`` requires a session (the login form) or an API token.
    """

    mode: Literal["open", "login"] = "open"
    session_lifetime: float = 12 * 3600.0
    """Seconds a login session lasts, however active."""
    idle_timeout: float = 2 * 3600.0
    """Seconds a login session lasts without a request."""
    login_free_attempts: int = 3
    """Failed logins per user name before each further attempt is delayed."""
    login_max_delay: float = 300.0
    """Longest delay, in seconds, that repeated failed logins build up to."""


class TlsConfig(_Section):
    """``[tls]``: serve HTTPS with this certificate and key (PEM files; ``labdeck cert`` makes a pair)."""

    cert: str | None = None
    key: str | None = None

    @property
    def enabled(self) -> bool:
        return self.cert is not None


def check(auth: AuthConfig, tls: TlsConfig, where: str) -> None:
    """Values the types admit but labdeck cannot use.

    Raises:
        ConfigError: one line naming the key and ``where`` (the file).
    """
    for key in ("session_lifetime", "idle_timeout", "login_max_delay"):
        if not getattr(auth, key) > 0:
            raise ConfigError(f"{where}: `auth.{key}` must be a positive number of seconds")
    if auth.login_free_attempts < 0:
        raise ConfigError(f"{where}: `auth.login_free_attempts` must not be negative")
    if (tls.cert is None) != (tls.key is None):
        raise ConfigError(f"{where}: `tls.cert` and `tls.key` go together: set both or neither")
