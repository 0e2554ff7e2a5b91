"""tls:// rigs on loopback: a certificate from ``labdeck cert`` trusted through
``[rigs.<name>] ca``, a certificate the controller does not trust refused, and
``labdeck rig serve tls://`` as a real process."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from labdeck.auth.cert import make_certificate
from labdeck.exceptions import ConfigError, Timeout
from labdeck.protocol.rig import Event
from labdeck.rigs import Rig, RigConfig, RigEndpoint, RigGroup, SimulatedRig
from labdeck.rigs.tls import client_context, server_context
from tests.helpers import scaled


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    """The rig's certificate for 127.0.0.1, and an impostor's for the same address."""
    return {"rig": make_certificate(["127.0.0.1", "localhost"], tmp_path / "rig"),
            "impostor": make_certificate(["127.0.0.1"], tmp_path / "impostor")}


async def test_a_group_reaches_a_tls_rig_whose_certificate_it_trusts(certs: dict[str, tuple[Path, Path]]) -> None:
    sim = SimulatedRig("ephys")
    async with RigEndpoint("tls://127.0.0.1:0", sim, ssl_context=server_context(*certs["rig"])) as rig_side:
        group = RigGroup.from_config({"ephys": RigConfig(uri=rig_side.uri, ca=str(certs["rig"][0]),
                                                         timeout=scaled(3))})
        try:
            assert (await group.init())["ephys"]["state"] == "initialised"
            assert (await group.start("2026-12-02_1_algernon"))["ephys"]["exp_ref"] == "2026-12-02_1_algernon"
        finally:
            await group.close()
    assert sim.calls == ["init", "start"]


async def test_a_rig_with_a_certificate_the_controller_does_not_trust_is_refused(
    certs: dict[str, tuple[Path, Path]]
) -> None:
    sim = SimulatedRig()
    async with RigEndpoint("tls://127.0.0.1:0", sim, ssl_context=server_context(*certs["impostor"])) as rig_side:
        rig = Rig(rig_side.uri, "ephys", ssl_context=client_context(certs["rig"][0]), timeout=scaled(3))
        with pytest.raises(ssl.SSLCertVerificationError):
            await rig.init()
        group = RigGroup([rig])
        result = await group.send(Event.INIT, [None])
        await group.close()
    assert isinstance(result.failures["ephys"], Timeout)
    assert "cannot reach tls://127.0.0.1" in result.failures["ephys"].message
    last = group.views["ephys"].last
    assert last is not None and last["outcome"] == "timeout"
    assert sim.calls == []  # nothing reached the rig's handlers


def test_a_ca_is_only_for_tls_rigs_and_must_be_readable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[rigs.cam\] ca: only a tls:// rig"):
        RigGroup.from_config({"cam": RigConfig(uri="tcp://127.0.0.1:11001", ca="ca.pem")})
    with pytest.raises(ConfigError, match="rig CA file"):
        RigGroup.from_config({"cam": RigConfig(uri="tls://127.0.0.1:11001", ca=str(tmp_path / "missing.pem"))})


async def test_labdeck_rig_serve_tls_serves_its_certificate(certs: dict[str, tuple[Path, Path]]) -> None:
    cert, key = certs["rig"]
    argv = [sys.executable, "-m", "labdeck", "rig", "serve", "tls://127.0.0.1:0", "--cert", str(cert),
            "--cert-key", str(key)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            uri = proc.stdout.readline().split()[2]
            assert uri.startswith("tls://127.0.0.1:")
            async with Rig(uri, "served", ssl_context=client_context(cert), timeout=scaled(3)) as rig:
                assert (await rig.init())["state"] == "initialised"
        finally:
            proc.send_signal(2)
            code = proc.wait(scaled(10))
    assert code == 0


def test_labdeck_rig_serve_tls_without_a_certificate_says_what_to_do() -> None:
    done = subprocess.run([sys.executable, "-m", "labdeck", "rig", "serve", "tls://127.0.0.1:0"],
                          capture_output=True, text=True, timeout=scaled(30))
    assert done.returncode == 2 and "needs --cert and --cert-key" in done.stderr
    assert "Traceback" not in done.stderr
