"""TLS for ``tls://`` rigs (labdeck mode over TCP): the contexts each side needs.

The controller trusts the CA file of ``[rigs.<name>] ca`` (for a lab's own rig, the
rig's self-signed certificate from ``labdeck cert``), or the system's CAs without one;
it checks the rig's name against the certificate, so a certificate made for another
host is refused. The rig serves its certificate and key (``labdeck rig serve tls://...
--cert FILE --cert-key FILE``). TLS 1.2 is the oldest either side accepts.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from labdeck.exceptions import ConfigError

__all__ = ["client_context", "server_context"]


def client_context(ca: str | Path | None = None) -> ssl.SSLContext:
    """What a controller uses to reach a ``tls://`` rig.

    Args:
        ca: a PEM file of the CA (or the self-signed certificate) to trust; ``None``:
            the system's CAs.

    Raises:
        ConfigError: ``ca`` cannot be read as PEM certificates.
    """
    try:
        context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"rig CA file {ca}: {_reason(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def server_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """What a ``tls://`` rig serves with.

    Raises:
        ConfigError: the certificate or key cannot be read, or they do not match.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"rig certificate {cert} with key {key}: {_reason(exc)}") from None
    return context


def _reason(exc: OSError) -> str:
    """The OS's or OpenSSL's words for it, without the error number."""
    return str(exc.strerror or getattr(exc, "reason", None) or exc)
