"""The protocol package stays free of I/O: no event loop, socket, thread, process or web framework.

Not only its own imports: every labdeck module a protocol module imports (and the
packages that import runs, ``labdeck/__init__.py`` included) is followed, so that
``from labdeck.hub import X`` inside ``protocol/`` fails as surely as ``import asyncio``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.importgraph import SRC, imported_modules, modules_under, offences

FORBIDDEN = {"asyncio", "socket", "threading", "aiohttp", "subprocess", "selectors", "ssl", "http"}


def io_imports(root: Path, start: list[str], first_party: str = "labdeck") -> list[str]:
    return offences(root, start, lambda name: name.split(".")[0] in FORBIDDEN, first_party)


def test_the_checker_sees_every_form_of_import() -> None:
    source = "import asyncio.events\nfrom http import client\nimport json\nif True:\n    import socket as s\n"
    assert imported_modules(source) == {"asyncio.events", "http", "http.client", "json", "socket"}


def test_the_checker_resolves_relative_imports_and_skips_type_checking_ones() -> None:
    source = textwrap.dedent("""
        from typing import TYPE_CHECKING
        from . import wire
        from .lifecycle import RunState
        from ..hub import Hub
        if TYPE_CHECKING:
            from labdeck.deck import Deck
        else:
            import json
        def later():
            import threading
        """)
    assert imported_modules(source, "labdeck.protocol") == {
        "typing", "typing.TYPE_CHECKING", "labdeck.protocol", "labdeck.protocol.wire",
        "labdeck.protocol.lifecycle", "labdeck.protocol.lifecycle.RunState", "labdeck.hub", "labdeck.hub.Hub",
        "json", "threading"}


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")


def test_the_checker_follows_first_party_imports_to_an_indirect_offence(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "lab/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import lab.server\n",
        "lab/protocol/__init__.py": "",
        "lab/protocol/clean.py": "import json\nfrom lab.helpers import tidy\n",
        "lab/protocol/relative.py": "from ..hub import Hub\n",
        "lab/helpers.py": "from .deep import work\n",
        "lab/deep.py": "import math\nimport asyncio\n",
        "lab/hub/__init__.py": "from .queues import Queue\n",
        "lab/hub/queues.py": "import threading\n",
        "lab/server.py": "import aiohttp\n",  # only under TYPE_CHECKING: never imported
    })
    assert io_imports(tmp_path, ["lab.protocol.clean"], "lab") == [
        "lab.protocol.clean -> lab.helpers -> lab.deep: asyncio"]
    assert io_imports(tmp_path, ["lab.protocol.relative"], "lab") == [
        "lab.protocol.relative -> lab.hub -> lab.hub.queues: threading"]


def test_the_checker_finds_nothing_in_a_pure_tree(tmp_path: Path) -> None:
    _tree(tmp_path, {"lab/__init__.py": "", "lab/protocol/__init__.py": "from . import wire\n",
                     "lab/protocol/wire.py": "import json\nfrom lab.errors import Bad\n", "lab/errors.py": ""})
    assert io_imports(tmp_path, ["lab.protocol", "lab.protocol.wire"], "lab") == []


def test_no_protocol_module_imports_io_even_indirectly() -> None:
    modules = modules_under(SRC, "labdeck.protocol")
    assert {"labdeck.protocol", "labdeck.protocol.wire", "labdeck.protocol.link"} <= set(modules)
    offences = io_imports(SRC, modules)
    assert not offences, f"protocol modules must not do I/O: {offences}"
