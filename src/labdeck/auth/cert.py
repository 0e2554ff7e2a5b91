"""``labdeck cert``: a self-signed TLS certificate for a lab server.

Every host name given becomes a subjectAltName (browsers ignore the common name): IP
addresses as IP entries, everything else as DNS names. The key is ECDSA P-256, written with
mode 0600 before any byte of it exists on disk. Existing files are never replaced unless
asked, since replacing a key in use breaks every client that pinned the old certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labdeck.exceptions import AlreadyExists, InvalidArguments

__all__ = ["CERT_FILE", "KEY_FILE", "make_certificate", "subject_names"]

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"


def subject_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """``hosts`` as subjectAltName entries: IP addresses as such, the rest as DNS names.

    Raises:
        InvalidArguments: no host, or one that is neither an IP address nor a DNS name.
    """
    if not hosts:
        raise InvalidArguments("a certificate needs at least one --host")
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
            continue
        except ValueError:
            pass
        labels = host.rstrip(".").split(".")
        if not all(label and len(label) <= 63 and label.replace("-", "").replace("*", "").isalnum()
                   and label.isascii() for label in labels):
            raise InvalidArguments(f"host {host!r} is neither an IP address nor a DNS name")
        names.append(x509.DNSName(host.rstrip(".").lower()))
    return names


def make_certificate(hosts: Sequence[str], out: str | os.PathLike[str], *, days: int = 365,
                     force: bool = False) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (mode 0600) into ``out``; returns their paths.

    Raises:
        InvalidArguments: a bad host, or ``days`` not positive.
        AlreadyExists: either file exists and ``force`` is false (nothing is written).
    """
    if days < 1:
        raise InvalidArguments("--days must be at least 1")
    names = subject_names(hosts)
    folder = Path(out)
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    for path in (cert_path, key_path):
        if path.exists() and not force:
            raise AlreadyExists(f"{path} exists; pass --force to replace it")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build(key, hosts[0], names, days)
    folder.mkdir(parents=True, exist_ok=True)
    _write(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert_path, key_path


def _build(key: ec.EllipticCurvePrivateKey, common_name: str, names: list[x509.GeneralName],
           days: int) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "labdeck")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate clocks a little behind
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data``; the file has ``mode`` from its creation on."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)  # the umask may have narrowed it; never widened beyond mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
