"""argon2id hashes: salted, never the password, verified in constant time, upgraded when outdated."""

from __future__ import annotations

import pytest

from labdeck.auth.passwords import MAX_LENGTH, MIN_LENGTH, Passwords
from labdeck.exceptions import InvalidArguments
from tests.auth.conftest import cheap_passwords


def test_a_hash_is_argon2id_salted_and_never_the_password(passwords: Passwords) -> None:
    one, two = passwords.hash("correct horse"), passwords.hash("correct horse")
    assert one.startswith("$argon2id$")
    assert one != two  # a fresh salt each time
    assert "correct horse" not in one
    assert passwords.verify(one, "correct horse") and passwords.verify(two, "correct horse")
    assert not passwords.verify(one, "correct horsE")


def test_a_damaged_hash_is_a_mismatch_not_a_crash(passwords: Passwords) -> None:
    assert not passwords.verify("not a hash", "correct horse")
    assert not passwords.verify("", "correct horse")


@pytest.mark.parametrize("password", ["x" * (MIN_LENGTH - 1), "x" * (MAX_LENGTH + 1), ""])
def test_length_rule(password: str, passwords: Passwords) -> None:
    with pytest.raises(InvalidArguments, match="password too") as info:
        passwords.hash(password)
    assert password not in str(info.value) or not password


def test_a_hash_with_older_parameters_verifies_and_asks_for_a_rehash() -> None:
    old, new = cheap_passwords(8 * 1024), cheap_passwords(16 * 1024)
    stored = old.hash("correct horse")
    assert new.verify(stored, "correct horse")
    assert new.needs_rehash(stored)
    assert not new.needs_rehash(new.hash("correct horse"))
    assert new.needs_rehash("garbage")


def test_the_dummy_verification_never_succeeds(passwords: Passwords) -> None:
    assert passwords.verify_dummy("labdeck-no-such-user") is False
