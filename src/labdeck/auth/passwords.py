"""Password hashing with argon2id (memory-hard), through argon2-cffi.

Hashes are PHC strings (``$argon2id$v=19$m=...``) that carry their own parameters, so a
hash made with older, cheaper parameters still verifies; :meth:`Passwords.needs_rehash`
tells the caller to store a fresh hash after the next successful login.
"""

from __future__ import annotations

import argon2

from labdeck.exceptions import InvalidArguments

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "Passwords"]

MIN_LENGTH = 10
"""Fewest characters a new password may have."""
MAX_LENGTH = 1024
"""Most characters a password may have: hashing a huge one would be a cheap way to load the server."""


class Passwords:
    """Hash, verify and check passwords.

    Args:
        hasher: argon2 parameters; the default is argon2-cffi's recommended profile. Tests pass a
            cheap one; a server keeps the default.
    """

    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        self.hasher = hasher or argon2.PasswordHasher()
        self._dummy: str | None = None

    @staticmethod
    def check(password: str) -> None:
        """Refuse a password too short or too long to be set.

        Raises:
            InvalidArguments: the message says the rule; it never echoes the password.
        """
        if len(password) < MIN_LENGTH:
            raise InvalidArguments(f"password too short: use at least {MIN_LENGTH} characters")
        if len(password) > MAX_LENGTH:
            raise InvalidArguments(f"password too long: use at most {MAX_LENGTH} characters")

    def hash(self, password: str) -> str:
        """A new salted hash of ``password`` (checked with :meth:`check` first).

        Raises:
            InvalidArguments: the password breaks the length rule.
        """
        self.check(password)
        return self.hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches the stored hash; comparison is constant-time.

        A malformed stored hash is a mismatch, never an exception: a damaged row must not
        let anyone in, nor crash a login.
        """
        if len(password) > MAX_LENGTH:
            return False
        try:
            return self.hasher.verify(stored, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> bool:
        """Spend the time of one verification and return ``False``.

        Called for an unknown user, so that a login attempt takes as long for a name that
        does not exist as for a wrong password, and timing does not reveal which names exist.
        """
        if self._dummy is None:
            self._dummy = self.hasher.hash("labdeck-no-such-user")
        self.verify(self._dummy, password)
        return False

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters than this hasher's."""
        try:
            return self.hasher.check_needs_rehash(stored)
        except argon2.exceptions.InvalidHashError:
            return True
