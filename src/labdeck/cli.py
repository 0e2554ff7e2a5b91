"""The ``labdeck`` command.

``main(argv) -> int`` is the whole CLI, so tests call it directly. Exit codes: 0 done,
1 failed at run time, 2 bad usage or configuration (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from collections.abc import Sequence

from labdeck import __version__
from labdeck.auth import cli as auth_cli
from labdeck.capability import Command
from labdeck.exceptions import ConfigError, LabdeckError

__all__ = ["build_parser", "main"]

DEFAULT_PORT = 8888


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labdeck",
        description="A web control room for lab experiments.",
    )
    parser.add_argument("--version", action="version", version=f"labdeck {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the server from a config file")
    serve.add_argument("--config", metavar="FILE", help="config file (default: ./labdeck.toml if present)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help=f"port to listen on (default {DEFAULT_PORT})")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="server processes sharing the port (default 1); more need [broker] url on Redis")

    demo = sub.add_parser("demo", help="run a complete simulated lab on embedded defaults")
    demo.add_argument("--port", type=int, default=None, help=f"port to listen on (default {DEFAULT_PORT})")
    demo.add_argument("--no-browser", action="store_true", help="do not open the dashboard in a browser")
    demo.add_argument("--fresh", action="store_true",
                      help="start from an empty data folder (forget the demo's history)")
    demo.add_argument("--data", metavar="DIR",
                      help="data folder (default: the demo's folder in your user data, kept between runs)")

    bench = sub.add_parser("bench", help="measure labdeck against bare aiohttp and Tornado baselines")
    bench.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke run")
    bench.add_argument("--only", action="append", metavar="NAME",
                       help="run only this benchmark (repeatable): rpc, rpc-call, broadcast, "
                            "publish-thread, memory, script-latency, watch, rigs, static, scaleout")
    bench.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")

    conformance = sub.add_parser("conformance", help="check a running server against the wire protocol page")
    from labdeck.conformance import add_arguments

    add_arguments(conformance)

    for command in _capability_commands():
        cmd = sub.add_parser(command.name, help=command.help)
        cmd.add_argument("--config", metavar="FILE", help="config file (default: ./labdeck.toml if present)")
        command.configure(cmd)
        cmd.set_defaults(capability_command=command)
    auth_cli.add_parsers(sub)
    return parser


def _capability_commands() -> list[Command]:
    from labdeck import capabilities

    return capabilities.commands()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        command: Command | None = getattr(args, "capability_command", None)
        if command is not None:
            return command.run(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "demo":
            from labdeck.demo import run_demo

            return run_demo(port=args.port, open_browser=not args.no_browser, data=args.data, fresh=args.fresh)
        if args.command == "bench":
            from labdeck.bench import run_benchmarks

            return int(run_benchmarks(quick=args.quick, only=args.only, json_path=args.json))
        if args.command == "conformance":
            from labdeck.conformance import main as conformance

            return conformance(args)
        if args.command in auth_cli.COMMANDS:
            return auth_cli.run(args)
    except ConfigError as exc:
        print(f"labdeck: {exc}", file=sys.stderr)
        return 2
    except LabdeckError as exc:
        print(f"labdeck: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"labdeck: {_os_error(exc, args)}", file=sys.stderr)
        return 1
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse admits no other


def _os_error(exc: OSError, args: argparse.Namespace) -> str:
    """What went wrong, for a person; a port in use says how to pick another."""
    if exc.errno == errno.EADDRINUSE:
        return (f"the address is already in use ({exc.strerror}): another labdeck, or another program, "
                "listens there; choose another port with --port N (or [server] port)")
    return str(exc.strerror or exc)


def _serve(args: argparse.Namespace) -> int:
    from labdeck.config import import_from, load_config
    from labdeck.deck import Deck
    from labdeck.workers import Supervisor, is_worker

    overrides = {"server.host": args.host, "server.port": args.port, "server.workers": args.workers}
    config = load_config(args.config, overrides=overrides)
    if config.path is not None:
        import_from(config.base_dir)
    if config.path is None and not is_worker():
        print(f"labdeck: no labdeck.toml here and no --config: serving the defaults, data in {config.data_dir} "
              "(set [server] data, or LABDECK_DATA, to keep it elsewhere)", file=sys.stderr, flush=True)
    if config.server.workers > 1 and not is_worker():
        command = [sys.executable, "-m", "labdeck", *(["-v"] if args.verbose else []), "serve"]
        for flag, value in (("--config", args.config), ("--host", args.host), ("--port", args.port)):
            if value is not None:
                command += [flag, str(value)]
        return Supervisor(command, config.server.workers).run()
    Deck(config).run()
    return 0
