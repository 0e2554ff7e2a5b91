"""The one rule for user and token names."""

from __future__ import annotations

import re

from labdeck.exceptions import InvalidArguments

__all__ = ["NAME_RULE", "check_name"]

_NAME = re.compile(r"[a-z][a-z0-9._-]{0,63}")
NAME_RULE = "1-64 characters: lower-case letters, digits, '.', '_' and '-', starting with a letter"
"""The rule in words, for error messages and help texts."""


def check_name(kind: str, name: str) -> str:
    """``name`` itself when it is usable as a ``kind`` ("user", "token") name.

    Conservative on purpose: names appear in logs, URLs, cookies and shell commands, and
    upper case would let ``Alice`` and ``alice`` be two accounts.

    Raises:
        InvalidArguments: the message states :data:`NAME_RULE`.
    """
    if not _NAME.fullmatch(name):
        raise InvalidArguments(f"{kind} name {name!r} is not allowed: {NAME_RULE}")
    return name
