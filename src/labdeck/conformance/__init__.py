"""``labdeck conformance``: check a running server against the wire protocol page.

Every check tests one rule of ``docs/topics/protocol.md`` through
:mod:`labdeck.client` (or, for what no polite client does, a bare socket): replies and
ids, refused frames and errors, pushes, retained values, replay and gaps, epochs,
exactly-once delivery across a reconnect, close codes, limits, and the upgrade's Host
and Origin rules. It is what the author of another client or server runs::

    labdeck conformance ws://127.0.0.1:8888/ws --token T
    labdeck conformance ws://host-a:8888/ws ws://host-b:8888/ws   # processes sharing a broker

The run publishes on channels under ``conformance/<random>/`` only; ``pub`` needs the
operator role (``--token`` of an operator token, or a server in open mode).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from labdeck.conformance import client, delivery, requests
from labdeck.conformance.target import CHECKS, CheckFailed, Registered, Skipped, Target

__all__ = ["CHECKS", "Outcome", "Target", "add_arguments", "main", "ordered", "report", "run"]

_MODULES = (requests, delivery, client)  # the report's order: requests and replies, delivery, the client's own


def ordered() -> list[Registered]:
    """Every check, those of :data:`_MODULES` in that order, each module's as written."""
    rank = {module.__name__: i for i, module in enumerate(_MODULES)}
    return sorted(CHECKS, key=lambda c: rank.get(c.run.__module__, len(rank)))


@dataclass(frozen=True)
class Outcome:
    """One check's result: ``status`` is ``pass``, ``FAIL`` or ``skip``."""

    name: str
    rule: str
    status: str
    detail: str
    seconds: float


async def run(target: Target, only: Sequence[str] = ()) -> list[Outcome]:
    """Run every check (or those whose name starts with one of ``only``), one at a time."""
    outcomes = []
    for registered in ordered():
        if only and not any(registered.name.startswith(prefix) for prefix in only):
            continue
        began = time.monotonic()
        try:
            await asyncio.wait_for(registered.run(target), target.timeout * 6)
            status, detail = "pass", ""
        except Skipped as exc:
            status, detail = "skip", str(exc)
        except (CheckFailed, AssertionError) as exc:
            status, detail = "FAIL", str(exc)
        except TimeoutError:
            status, detail = "FAIL", f"a wait timed out after {time.monotonic() - began:.1f} s"
        except Exception as exc:  # the server misbehaved in a way no check foresaw
            status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
        outcomes.append(Outcome(registered.name, registered.rule, status, detail, time.monotonic() - began))
    return outcomes


def report(outcomes: Sequence[Outcome]) -> str:
    """The readable report: one line per check, the reason under each failure, a summary."""
    lines = []
    for o in outcomes:
        lines.append(f"{o.status:4}  {o.name:22} {o.rule}")
        if o.detail:
            lines.append(f"      {'':22} → {o.detail}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("pass", "FAIL", "skip")}
    lines.append(f"\n{counts['pass']} passed, {counts['FAIL']} failed, {counts['skip']} skipped")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``labdeck conformance``."""
    parser.add_argument(
        "urls",
        nargs="+",
        metavar="URL",
        help="the server's websocket URL, ws://HOST:PORT/ws (several: processes sharing a broker)",
    )
    parser.add_argument("--token", metavar="T", help="an API token with the operator role at least")
    parser.add_argument(
        "--history", type=int, default=10_000, metavar="N", help="the server's [server] history (default 10000)"
    )
    parser.add_argument(
        "--send-queue-bytes",
        type=int,
        default=4 << 20,
        metavar="B",
        help="the server's [server] send_queue_bytes (default 4194304)",
    )
    parser.add_argument(
        "--max-frame", type=int, default=1 << 20, metavar="B", help="the server's [server] max_frame (default 1048576)"
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=256,
        metavar="N",
        help="the server's [server] max_in_flight (default 256)",
    )
    parser.add_argument("--ca", metavar="FILE", help="a CA or self-signed certificate (PEM) to trust for wss:// URLs")
    parser.add_argument("--slow-call", metavar="PATH",
                        help="an exposed method taking no arguments and 0.25 s or more (device.calibrate in "
                             "labdeck demo), for the duplicate-id check")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds per wait (default 10)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only the checks whose name starts with NAME (repeatable)",
    )


def main(args: argparse.Namespace) -> int:
    """Run the checks of ``args``; prints the report. Exit code 0 when none failed, 1 when
    one did, 2 for a URL that is not a websocket URL."""
    for url in args.urls:
        if not url.startswith(("ws://", "wss://")):
            print(f"labdeck: {url!r} is not a ws:// or wss:// URL", file=sys.stderr)
            return 2
    target = Target(list(args.urls), args.token, args.history, args.send_queue_bytes, args.max_frame,
                    args.max_in_flight, args.timeout, args.ca, args.slow_call)
    outcomes = asyncio.run(run(target, args.only))
    print(report(outcomes), end="")
    return 1 if any(o.status == "FAIL" for o in outcomes) else 0
