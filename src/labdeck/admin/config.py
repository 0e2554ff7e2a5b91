"""The ``[admin]`` and ``[mail]`` config sections: retention of what the server keeps, the
server's log file, and where the daily mail of new errors goes.

They are defined here, beside the code that reads them; :mod:`labdeck.config` embeds them
in the whole file. :func:`check` is the validation beyond types.
"""

from __future__ import annotations

import msgspec

from labdeck.exceptions import ConfigError

__all__ = ["AdminConfig", "MailConfig", "check"]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class AdminConfig(_Section):
    """``[admin]``: what the periodic jobs keep and remove."""

    stats_days: int = 400
    """Days of per-day request statistics kept (the totals since the first start are kept forever)."""
    audit_days: int = 730
    """Days the audit log and the recorded errors are kept."""
    history_days: int = 0
    """Finished runs older than this many days are deleted with their log and data; 0 keeps every run."""
    log_file: str | None = None
    """The server also writes its log to this file (relative: in the data folder), rotated daily."""
    log_days: int = 30
    """Rotated log files kept."""


class MailConfig(_Section):
    """``[mail]``: a daily mail of the errors logged since the last one; absent ``host``: no mail."""

    host: str | None = None
    port: int = 25
    sender: str = "labdeck@localhost"
    to: list[str] = msgspec.field(default_factory=list)
    starttls: bool = False
    user: str | None = None
    password_env: str | None = None
    """The environment variable holding the SMTP password (the password never goes in the file)."""
    hour: int = 7
    """The hour of the day (server time, 0-23) the mail goes out."""

    @property
    def enabled(self) -> bool:
        return self.host is not None and bool(self.to)


def check(admin: AdminConfig, mail: MailConfig, where: str) -> None:
    """Values the types admit but labdeck cannot use.

    Raises:
        ConfigError: one line naming the key and ``where`` (the file).
    """
    for key in ("stats_days", "audit_days", "log_days"):
        if getattr(admin, key) < 1:
            raise ConfigError(f"{where}: `admin.{key}` must be at least 1")
    if admin.history_days < 0:
        raise ConfigError(f"{where}: `admin.history_days` must not be negative (0 keeps every run)")
    if not 0 < mail.port < 65536:
        raise ConfigError(f"{where}: `mail.port`: {mail.port} is not a port number")
    if not 0 <= mail.hour <= 23:
        raise ConfigError(f"{where}: `mail.hour` must be 0-23")
    if mail.host is not None and not mail.to:
        raise ConfigError(f"{where}: `mail.to` lists nobody: name at least one address to mail")
    for address in [*mail.to, mail.sender]:
        if "@" not in address or any(c in address for c in "\r\n<>,;"):
            raise ConfigError(f"{where}: `mail`: {address!r} is not a mail address")
