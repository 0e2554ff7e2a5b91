"""``labdeck demo``: a simulated lab on embedded defaults.

Each simulated part of the lab is a service in this package; :func:`build_demo`
assembles them on one :class:`Deck`.
"""

from __future__ import annotations

import logging
import os
import shutil
import webbrowser
from pathlib import Path

from labdeck.config import load_config
from labdeck.deck import Deck
from labdeck.demo.lab_objects import DemoObjects
from labdeck.demo.project import write_demo_project
from labdeck.demo.rigs import DemoRigs, demo_rig_sections
from labdeck.demo.scanner import SimulatedScanner
from labdeck.demo.sources import DemoSignals

__all__ = ["build_demo", "demo_folder", "run_demo"]

log = logging.getLogger(__name__)


def demo_folder(env: dict[str, str] | None = None) -> Path:
    """Where the demo keeps its data for this user: ``$XDG_DATA_HOME/labdeck/demo``, by
    default ``~/.local/share/labdeck/demo``; the same folder every time, so the demo's
    history survives a restart."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "labdeck" / "demo"


def build_demo(port: int | None = None, data: str | None = None) -> Deck:
    """A deck with every demo service added, not yet started; its data in ``data``
    (default :func:`demo_folder`)."""
    folder = Path(data) if data else demo_folder()
    rig_sections, rigs = demo_rig_sections()
    project = write_demo_project(folder, rig_sections)  # the demo's scripts, [run] settings and rigs
    config = load_config(project, overrides={"server.port": port, "server.data": str(folder.resolve())})
    deck = Deck(config)
    deck.add_service(DemoSignals())
    deck.add_service(DemoObjects())
    deck.add_service(DemoRigs(rigs))
    scanner = folder.resolve() / "scanner"
    scanner.mkdir(parents=True, exist_ok=True)  # watched from the start: no "does not exist" at every start
    deck.add_service(SimulatedScanner(scanner))
    return deck


def run_demo(port: int | None = None, open_browser: bool = True, data: str | None = None,
             fresh: bool = False) -> int:
    """Run the demo until Ctrl-C; opens the dashboard unless told not to. ``fresh``
    empties the data folder first."""
    folder = Path(data) if data else demo_folder()
    if fresh and folder.exists():
        shutil.rmtree(folder)
        print(f"labdeck demo: starting fresh in {folder}", flush=True)
    else:
        print(f"labdeck demo: data in {folder} (--fresh starts from nothing)", flush=True)
    deck = build_demo(port, str(folder))
    if open_browser:
        deck.add_service(_OpenBrowser())
    deck.run()
    return 0


class _OpenBrowser:
    async def start(self, deck: Deck) -> None:
        print(f"labdeck demo: dashboard at {deck.url} (Ctrl-C to stop)", flush=True)
        try:
            webbrowser.open(deck.url)
        except webbrowser.Error as exc:
            log.info("could not open a browser: %s", exc)

    async def stop(self) -> None:
        return None
