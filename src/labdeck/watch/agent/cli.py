"""``labdeck agent --server URL --token TOKEN --watch PATH[:kind] ...``

Runs on the scanner or rig PC until interrupted. The token may also come from the
``LABDECK_TOKEN`` environment variable, which keeps it out of the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path

from labdeck.capability import Command
from labdeck.exceptions import ConfigError

__all__ = ["AGENT_COMMAND"]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server", required=True, metavar="URL", help="the labdeck server, http(s)://host:port[/base] or ws(s)://..."
    )
    parser.add_argument(
        "--token", metavar="TOKEN", default=None, help="an API token of the operator role (default: $LABDECK_TOKEN)"
    )
    parser.add_argument(
        "--watch",
        action="append",
        required=True,
        metavar="PATH[:kind]",
        help="a folder to watch; kind files (default) or dicom; repeat for more",
    )
    parser.add_argument("--name", help="how the server knows this agent (default: the host name)")
    parser.add_argument(
        "--data",
        metavar="FOLDER",
        default="labdeck-agent",
        help="where the agent keeps its queue (default: ./labdeck-agent)",
    )
    parser.add_argument("--ca", metavar="FILE", help="a CA certificate to trust for wss:// (a lab's own)")


def _run(args: argparse.Namespace) -> int:
    from labdeck.client import websocket_url
    from labdeck.watch.agent.runner import Agent, parse_watch

    token = args.token or os.environ.get("LABDECK_TOKEN")
    if not token:
        raise ConfigError(
            "an API token is needed: --token TOKEN or LABDECK_TOKEN (labdeck token add NAME "
            "--role operator on the server)"
        )
    taken: set[str] = set()
    watches = [parse_watch(text, taken) for text in args.watch]
    for w in watches:
        if not w.root.is_dir():
            print(f"labdeck agent: {w.root} is not a folder yet; watched once it exists", file=sys.stderr)
    ca = Path(args.ca) if args.ca else None
    agent = Agent(websocket_url(args.server), token, watches, Path(args.data), args.name, ca)
    print(
        f"labdeck agent {agent.name}: {', '.join(f'{w.name}={w.root} ({w.kind})' for w in watches)} -> {agent.url}",
        file=sys.stderr,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(agent.run())
    return 0


AGENT_COMMAND = Command(
    "agent", "watch folders on a scanner or rig PC and forward what lands to a server", _configure, _run
)
