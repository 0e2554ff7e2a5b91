"""The [auth] and [tls] sections: defaults, unknown keys refused, values checked."""

from __future__ import annotations

import msgspec
import pytest

from labdeck.auth.config import AuthConfig, TlsConfig, check
from labdeck.exceptions import ConfigError


def test_defaults_are_open_with_twelve_hour_sessions_and_no_tls() -> None:
    auth, tls = AuthConfig(), TlsConfig()
    assert (auth.mode, auth.session_lifetime, auth.idle_timeout) == ("open", 43200, 7200)
    assert not tls.enabled
    check(auth, tls, "labdeck.toml")


def test_a_table_from_toml_converts_strictly() -> None:
    auth = msgspec.convert({"mode": "login", "idle_timeout": 600}, AuthConfig, strict=True)
    assert auth.mode == "login" and auth.idle_timeout == 600
    with pytest.raises(msgspec.ValidationError, match="unknown field `lifetime`"):
        msgspec.convert({"lifetime": 1}, AuthConfig, strict=True)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"mode": "closed"}, AuthConfig, strict=True)


@pytest.mark.parametrize(("auth", "tls", "message"), [
    (AuthConfig(session_lifetime=0), TlsConfig(), "`auth.session_lifetime` must be a positive"),
    (AuthConfig(idle_timeout=-1), TlsConfig(), "`auth.idle_timeout`"),
    (AuthConfig(login_free_attempts=-1), TlsConfig(), "`auth.login_free_attempts`"),
    (AuthConfig(), TlsConfig(cert="cert.pem"), "`tls.cert` and `tls.key` go together"),
])
def test_unusable_values_are_one_line_errors(auth: AuthConfig, tls: TlsConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        check(auth, tls, "lab.toml")
    assert str(info.value).startswith("lab.toml: ")
