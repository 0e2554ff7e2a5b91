"""``labdeck rig init|start|stop|cleanup|status|info --server URL``: drive a running
server's rigs from another machine or a shell script.

Each command calls the server's ``rigs`` object over the wire protocol
(:class:`labdeck.client.Client`, with an operator's API token) and prints every rig's
answer, one line per rig (``--json``: the ``{rig: answer}`` object as the server sent
it). A rig that timed out or answered with an error is named on stderr. Exit code 0 when
every rig answered, 1 when one did not, the server drives no rigs or refused, 2 for bad
usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import aiohttp

from labdeck.client import Client, DeckError, websocket_url
from labdeck.exceptions import ConfigError

__all__ = ["ACTIONS", "add_parsers", "call_of", "drive", "failures", "lines"]

ACTIONS = {
    "init": "initialise the server's rigs",
    "start": "start an experiment on the server's rigs",
    "stop": "stop the server's rigs (--immediately: interrupt)",
    "cleanup": "clean up the server's rigs",
    "status": "ask the server's rigs for their status",
    "info": "ask the server's rigs for their details",
}
"""Each action's help; the action is also the ``rigs`` method called."""

_TAKES_DATA = ("init", "start", "stop", "cleanup")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """One sub-command per action of :data:`ACTIONS`, beside ``labdeck rig serve``."""
    for action, text in ACTIONS.items():
        parser = sub.add_parser(action, help=text, description=f"{text[0].upper()}{text[1:]}, "
                                "through the server's rigs object; each rig's answer is printed.")
        _common(parser)
        if action == "start":
            parser.add_argument("--exp-ref", required=True, metavar="REF",
                                help="the experiment reference, yyyy-mm-dd_n_subject")
        if action == "stop":
            parser.add_argument("--immediately", action="store_true", help="interrupt instead of a clean stop")
        if action in _TAKES_DATA:
            parser.add_argument("--data", metavar="JSON", help="a JSON value sent along to each rig")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", required=True, metavar="URL",
                        help="the labdeck server, http(s)://host:port[/base] or ws(s)://...")
    parser.add_argument("--token", metavar="T", help="an API token of the operator role (default: $LABDECK_TOKEN)")
    parser.add_argument("--ca", metavar="FILE", help="a CA certificate to trust for https:// and wss:// (a lab's own)")
    parser.add_argument("--rig", action="append", metavar="NAME", help="only this rig (repeatable; default: all)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S",
                        help="seconds to wait for the server's answer (default 60)")
    parser.add_argument("--json", action="store_true", help="print the answers as one JSON object")


def call_of(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    """The positional and keyword arguments of the ``rigs`` method for ``args``.

    Raises:
        ConfigError: ``--data`` is not JSON.
    """
    positional: list[Any] = [args.exp_ref] if args.rig_command == "start" else []
    keywords: dict[str, Any] = {}
    if getattr(args, "data", None) is not None:
        try:
            keywords["data"] = json.loads(args.data)
        except ValueError as exc:
            raise ConfigError(f"--data {args.data!r} is not JSON: {exc}") from None
    if getattr(args, "immediately", False):
        keywords["immediately"] = True
    if args.rig:
        keywords["rigs"] = list(args.rig)
    return positional, keywords


def failures(answers: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The rigs whose entry is the ``{"error": {"type", "message"}}`` of a failed rig."""
    failed = {}
    for rig, answer in answers.items():
        error = answer.get("error") if isinstance(answer, dict) and len(answer) == 1 else None
        if isinstance(error, dict) and isinstance(error.get("type"), str):
            failed[rig] = {"type": error["type"], "message": str(error.get("message", ""))}
    return failed


def lines(answers: dict[str, Any]) -> list[str]:
    """One line per rig: its answer as JSON, or ``FAILED type: message``."""
    failed = failures(answers)
    out = []
    for rig, answer in answers.items():
        if rig in failed:
            out.append(f"{rig}: FAILED {failed[rig]['type']}: {failed[rig]['message']}")
        else:
            out.append(f"{rig}: {json.dumps(answer, ensure_ascii=False)}")
    return out


def _summary(action: str, failed: dict[str, dict[str, str]]) -> str:
    late = [rig for rig, error in failed.items() if error["type"] == "Timeout"]
    wrong = [f"{rig} ({error['type']})" for rig, error in failed.items() if error["type"] != "Timeout"]
    parts = ([f"timed out: {', '.join(late)}"] if late else []) + ([f"failed: {', '.join(wrong)}"] if wrong else [])
    return f"labdeck rig {action}: {'; '.join(parts)}"


async def _ask(args: argparse.Namespace, positional: list[Any], keywords: dict[str, Any]) -> Any:
    token = args.token or os.environ.get("LABDECK_TOKEN")
    async with Client(websocket_url(args.server), token=token, ca=args.ca, timeout=args.timeout,
                      reconnect=False) as client:
        return await client.call(["rigs", args.rig_command], *positional, **keywords)


def drive(args: argparse.Namespace) -> int:
    """Run ``labdeck rig ACTION``; see the module doc for what it prints and returns."""
    action = args.rig_command
    positional, keywords = call_of(args)
    try:
        answers = asyncio.run(_ask(args, positional, keywords))
    except DeckError as exc:
        print(f"labdeck rig {action}: the server refused: {exc.type}: {exc.message}", file=sys.stderr)
        return 1
    except aiohttp.WSServerHandshakeError as exc:
        hint = " (an operator's --token is needed)" if exc.status in (401, 403) else ""
        print(f"labdeck rig {action}: the server refused the connection: {exc.status}{hint}", file=sys.stderr)
        return 1
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        print(f"labdeck rig {action}: cannot reach {args.server}: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    if not isinstance(answers, dict):
        print(f"labdeck rig {action}: the server answered {answers!r}, not an answer per rig", file=sys.stderr)
        return 1
    if not answers:
        print(f"labdeck rig {action}: the server drives no rigs (no [rigs.<name>] sections)", file=sys.stderr)
        return 1
    print(json.dumps(answers, ensure_ascii=False) if args.json else "\n".join(lines(answers)))
    failed = failures(answers)
    if failed:
        print(_summary(action, failed), file=sys.stderr)
    return 1 if failed else 0
