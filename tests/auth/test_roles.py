"""Roles are ordered viewer < operator < admin, and a typo is an error, never a silent grant."""

from __future__ import annotations

import pytest

from labdeck.auth.identity import Identity
from labdeck.auth.roles import ROLES, parse_role, role_at_least
from labdeck.exceptions import InvalidArguments


def test_each_role_includes_the_ones_below_it() -> None:
    assert ROLES == ("viewer", "operator", "admin")
    for i, have in enumerate(ROLES):
        for j, need in enumerate(ROLES):
            assert role_at_least(have, need) is (i >= j), (have, need)


def test_parsing_ignores_case_and_blanks() -> None:
    assert parse_role(" Operator ") == "operator"


@pytest.mark.parametrize("bad", ["root", "", "admins"])
def test_an_unknown_role_is_refused_with_the_known_ones_listed(bad: str) -> None:
    with pytest.raises(InvalidArguments, match="viewer, operator, admin"):
        parse_role(bad)
    with pytest.raises(InvalidArguments):
        role_at_least(bad, "viewer")


def test_an_identity_checks_its_role_and_how_it_was_made() -> None:
    assert Identity(user=None, role="admin", via="open").user is None
    with pytest.raises(InvalidArguments):
        Identity(user="ana", role="superuser", via="session")
    with pytest.raises(InvalidArguments, match="open, session, token"):
        Identity(user="ana", role="viewer", via="cookie")
