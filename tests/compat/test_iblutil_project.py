"""The migration guide's project, written the way iblutil's documentation shows (a main rig
driving remote rigs with ``Services``; each remote rig an ``EchoProtocol.server`` answering
from its callbacks), runs on ``labdeck.compat.iblutil`` with only its import changed:
against iblutil itself in both roles, over UDP and ws, with the same answers as iblutil alone."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import free_port

pytest.importorskip("iblutil")

IBLUTIL = "iblutil.io.net.app"
LABDECK = "labdeck.compat.iblutil"

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "howto" / "migrate-iblutil.md"


def guide_files() -> dict[str, str]:
    """The guide's two files: each code block after a ``<!-- file: NAME -->`` line."""
    found = dict(re.findall(r"<!-- file: (\S+) -->\n```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S))
    assert set(found) == {"main_rig.py", "remote_rig.py"}
    assert all(f"from {LABDECK} import" in text for text in found.values())
    return found


# The remote rig waits 10 ms before it answers: iblutil reads one message per read of a ws
# stream, so an answer that follows its echo at once is read with it and taken for a wrong
# echo ("Unexpected response from server"). Real rigs take longer than that to act.


def load(tmp_path: Path, name: str, net: str, mode: str = "") -> ModuleType:
    """The guide's ``name``.py with its import of labdeck's layer turned to ``net``'s, and
    ``mode`` added to its ``EchoProtocol`` call."""
    source = guide_files()[f"{name}.py"].replace(f"from {LABDECK} import", f"from {net} import")
    source = source.replace("(uri, name=name)", f"(uri, name=name{mode})")
    path = tmp_path / f"{name}_{net.replace('.', '_')}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


async def session(tmp_path: Path, main_net: str, rig_net: str, scheme: str, mode: str = "") -> dict[str, Any]:
    main = load(tmp_path, "main_rig", main_net, mode)
    remote = load(tmp_path, "remote_rig", rig_net, mode)
    kind = socket.SOCK_DGRAM if scheme == "udp" else socket.SOCK_STREAM
    uris = {name: f"{scheme}://127.0.0.1:{free_port(kind)}" for name in ("behaviour", "camera")}
    servers = [await remote.serve(uri, name) for name, uri in uris.items()]
    try:
        answers: dict[str, Any] = await asyncio.wait_for(main.run_session(uris, "2026-12-03_1_algernon"), 20)
    finally:
        for server in servers:
            server.close()
            listening = getattr(server, "Server", None)  # iblutil's ws server, which close() leaves open
            if listening is not None:
                listening.close()
                await listening.wait_closed()
    await asyncio.sleep(0.05)  # let the transports finish closing
    return answers


EXPECTED = {
    "init": {"behaviour": [{"rig": "behaviour", "subject": "algernon"}],
             "camera": [{"rig": "camera", "subject": "algernon"}]},
    "start": {"behaviour": ["2026-12-03_1_algernon", {"rig": "behaviour"}],
              "camera": ["2026-12-03_1_algernon", {"rig": "camera"}]},
    "status": {"behaviour": [20], "camera": [20]},
    "stop": {"behaviour": [{"rig": "behaviour"}], "camera": [{"rig": "camera"}]},
    "cleanup": {"behaviour": [{"rig": "behaviour"}], "camera": [{"rig": "camera"}]},
    "info": [30, {"rig": "behaviour", "got": {"note": "hello"}}],
    "token": ["https://alyx.example.org", {"rig": "t0k3n"}],
    "connected": True,
}


@pytest.mark.parametrize("scheme", ["udp", "ws"])
async def test_the_project_on_iblutil_alone_gives_the_reference_answers(tmp_path: Path, scheme: str) -> None:
    assert await session(tmp_path, IBLUTIL, IBLUTIL, scheme) == EXPECTED


@pytest.mark.parametrize("scheme", ["udp", "ws"])
@pytest.mark.parametrize(("main_net", "rig_net"), [(LABDECK, IBLUTIL), (IBLUTIL, LABDECK), (LABDECK, LABDECK)],
                         ids=["labdeck-drives-iblutil", "iblutil-drives-labdeck", "labdeck-both"])
async def test_the_project_with_only_its_import_changed_gives_the_same_answers(
        tmp_path: Path, main_net: str, rig_net: str, scheme: str) -> None:
    assert await session(tmp_path, main_net, rig_net, scheme) == EXPECTED


@pytest.mark.parametrize("scheme", ["udp", "tcp"])
async def test_between_labdeck_peers_the_same_project_runs_in_labdeck_mode(tmp_path: Path, scheme: str) -> None:
    """One keyword more on each side, ``mode="labdeck"``: resends, de-duplication, TCP framing."""
    assert await session(tmp_path, LABDECK, LABDECK, scheme, mode=', mode="labdeck"') == EXPECTED
