"""``make_certificate``: a self-signed pair a TLS client accepts for every name given."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from labdeck.auth.cert import make_certificate
from labdeck.exceptions import AlreadyExists, InvalidArguments
from tests.helpers import scaled


def alt_names(cert_path: Path) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)  # type: ignore[return-value]


def test_every_host_becomes_a_subject_alt_name(tmp_path: Path) -> None:
    cert, key = make_certificate(["Lab.Example.org", "localhost", "127.0.0.1", "::1"], tmp_path / "tls", days=30)
    dns, ips = alt_names(cert)
    assert dns == ["lab.example.org", "localhost"]
    assert ips == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    assert (loaded.not_valid_after_utc - loaded.not_valid_before_utc).days == 30
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key.read_bytes() and b"PRIVATE" not in cert.read_bytes()


def test_existing_files_are_kept_unless_forced(tmp_path: Path) -> None:
    _, key = make_certificate(["localhost"], tmp_path)
    first = key.read_bytes()
    with pytest.raises(AlreadyExists, match="--force"):
        make_certificate(["localhost"], tmp_path)
    assert key.read_bytes() == first
    make_certificate(["localhost"], tmp_path, force=True)
    assert key.read_bytes() != first
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.pem", "key.pem"]


@pytest.mark.parametrize("hosts", [[], ["bad host"], ["lab..example"], ["-"], ["ex_ample.org"]])
def test_bad_hosts_are_refused(tmp_path: Path, hosts: list[str]) -> None:
    with pytest.raises(InvalidArguments):
        make_certificate(hosts, tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["lab.test", "127.0.0.1"])
async def test_a_client_trusting_the_certificate_connects_by_each_name(tmp_path: Path, name: str) -> None:
    cert, key = make_certificate(["lab.test", "127.0.0.1"], tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello over tls\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname=name), scaled(10))
        assert await asyncio.wait_for(reader.readline(), scaled(10)) == b"hello over tls\n"
        writer.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=client_ctx,
                                                           server_hostname="other.test"), scaled(10))
    finally:
        server.close()
        await server.wait_closed()
