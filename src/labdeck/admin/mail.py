"""The daily mail of new errors, sent over SMTP with the ``[mail]`` settings.

Sent by :mod:`smtplib` on a worker thread (it blocks); STARTTLS and a login when
configured, the password read from the environment variable ``[mail] password_env``
names. Nothing is sent when there is no new error.
"""

from __future__ import annotations

import os
import smtplib
import time
from collections.abc import Sequence
from email.message import EmailMessage

from labdeck.admin.config import MailConfig

__all__ = ["TIMEOUT", "error_mail", "send"]

TIMEOUT = 30.0
"""Seconds the SMTP server has for each step."""


def error_mail(config: MailConfig, server: str, errors: Sequence[tuple[float, str, str, str | None]],
               dropped: int = 0) -> EmailMessage:
    """The mail listing ``errors`` ``(t, logger, message, error id)``, oldest first."""
    mail = EmailMessage()
    count = len(errors)
    mail["Subject"] = f"labdeck {server}: {count} new error{'s' if count != 1 else ''}"
    mail["From"] = config.sender
    mail["To"] = ", ".join(config.to)
    lines = [f"labdeck at {server} logged {count} error{'s' if count != 1 else ''} since the last mail.", ""]
    if dropped:
        lines += [f"({dropped} more came too fast to be kept.)", ""]
    for t, logger, message, error_id in errors:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
        lines.append(f"{stamp}  {logger}" + (f"  error id {error_id}" if error_id else ""))
        lines += [f"    {line}" for line in message.splitlines()] + [""]
    mail.set_content("\n".join(lines))
    return mail


def send(config: MailConfig, mail: EmailMessage) -> None:
    """Send ``mail`` (blocking).

    Raises:
        OSError: the SMTP server cannot be reached or refused it (``smtplib.SMTPException``
            is one).
    """
    assert config.host is not None
    with smtplib.SMTP(config.host, config.port, timeout=TIMEOUT) as smtp:
        if config.starttls:
            smtp.starttls()
        if config.user is not None:
            smtp.login(config.user, os.environ.get(config.password_env or "", ""))
        smtp.send_message(mail)
