"""Two simulated rigs on loopback for the demo: one in labdeck mode, one in iblutil mode."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from labdeck.rigs import RigEndpoint, SimulatedRig

if TYPE_CHECKING:
    from labdeck.deck import Deck

__all__ = ["DemoRigs", "demo_rig_sections"]


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_rig_sections() -> tuple[str, list[tuple[str, str]]]:
    """The ``[rigs.*]`` TOML of the demo's rigs, and ``(uri, mode)`` of each to serve."""
    rigs = [(f"udp://127.0.0.1:{_free_port(socket.SOCK_DGRAM)}", "labdeck"),
            (f"ws://127.0.0.1:{_free_port(socket.SOCK_STREAM)}", "iblutil")]
    names = ("behaviour", "camera")
    toml = "".join(f'\n[rigs.{name}]\nuri = "{uri}"\nmode = "{mode}"\ntimeout = 3.0\n'
                   for name, (uri, mode) in zip(names, rigs, strict=True))
    return toml, rigs


class DemoRigs:
    """Serves the demo's simulated rigs while the demo runs."""

    def __init__(self, rigs: list[tuple[str, str]]) -> None:
        names = ("behaviour", "camera")
        self.endpoints = [RigEndpoint(uri, SimulatedRig(name), mode=mode)  # type: ignore[arg-type]
                          for name, (uri, mode) in zip(names, rigs, strict=True)]

    async def start(self, deck: Deck) -> None:
        for endpoint in self.endpoints:
            await endpoint.start()

    async def stop(self) -> None:
        for endpoint in reversed(self.endpoints):
            await endpoint.close()
