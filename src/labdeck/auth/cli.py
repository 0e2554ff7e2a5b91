"""``labdeck user ...``, ``labdeck token ...`` and ``labdeck cert``: identity from the shell.

:func:`add_parsers` adds the sub-commands to the ``labdeck`` parser and :func:`run` carries
one out. Each opens the store of the config's data folder (``DATA/labdeck.sqlite``), the
same one a running server uses: SQLite's WAL lets both work at once, and a change (a new
token, a deleted user) applies to the server's next request.

Only argparse and the role names are imported up front, so ``labdeck --help`` stays quick;
hashing and certificate code load when a command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from labdeck.auth.roles import ROLES
from labdeck.exceptions import InvalidArguments

if TYPE_CHECKING:
    from labdeck.auth.revocation import Notice
    from labdeck.auth.tokens import Tokens
    from labdeck.auth.users import Users
    from labdeck.store import Store

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = ("user", "token", "cert")
"""The top-level commands this module adds and runs."""

_Handler = Callable[["Store", argparse.Namespace], Coroutine[None, None, int]]


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``user``, ``token`` and ``cert`` to the ``labdeck`` command's sub-commands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="config file (default: ./labdeck.toml if present)")
    _add_user(subparsers, common)
    _add_token(subparsers, common)
    cert = subparsers.add_parser("cert", parents=[common], help="make a self-signed TLS certificate and key")
    cert.add_argument("--host", action="append", required=True, metavar="NAME",
                      help="a DNS name or IP address the server answers to (repeatable; the first is the CN)")
    cert.add_argument("--out", metavar="DIR", help="folder for cert.pem and key.pem (default: DATA/tls)")
    cert.add_argument("--days", type=int, default=365, metavar="N", help="validity in days (default 365)")
    cert.add_argument("--force", action="store_true", help="replace existing files")


def _add_user(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
              common: argparse.ArgumentParser) -> None:
    user = subparsers.add_parser("user", help="add, delete, list users and set their passwords")
    actions = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", parents=[common], help="add a user (prompts for the password twice)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    add.set_defaults(auth_handler=_user_add)
    delete = actions.add_parser("del", parents=[common], help="delete a user and end their sessions")
    delete.add_argument("name")
    delete.set_defaults(auth_handler=_user_del)
    listing = actions.add_parser("list", parents=[common], help="list users with role, creation and last login")
    listing.set_defaults(auth_handler=_user_list)
    passwd = actions.add_parser("passwd", parents=[common], help="set a user's password and end their sessions")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    passwd.set_defaults(auth_handler=_user_passwd)


def _add_token(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
               common: argparse.ArgumentParser) -> None:
    token = subparsers.add_parser("token", help="API tokens for agents and scripts")
    actions = token.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", parents=[common], help="make a token and print it (once)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--expires", type=float, metavar="DAYS", help="expire after DAYS days (default: never)")
    add.set_defaults(auth_handler=_token_add)
    listing = actions.add_parser("list", parents=[common], help="list tokens (never their secrets)")
    listing.set_defaults(auth_handler=_token_list)
    revoke = actions.add_parser("revoke", parents=[common], help="make a token unusable at once")
    revoke.add_argument("name")
    revoke.set_defaults(auth_handler=_token_revoke)


def run(args: argparse.Namespace) -> int:
    """Carry out a command :func:`add_parsers` parsed; returns the exit code.

    Raises:
        LabdeckError: what went wrong, for ``labdeck.cli.main`` to print as one line.
    """
    from labdeck.config import load_config

    config = load_config(args.config)
    if args.command == "cert":
        return _cert(args, config.data_dir)
    from labdeck.store import Store, store_target

    store = Store(store_target(config))
    args.broker_url, args.broker_prefix = config.broker.url, config.broker.prefix
    try:
        handler: _Handler = args.auth_handler
        return asyncio.run(handler(store, args))
    finally:
        store.close()


# -- users ------------------------------------------------------------------------------


async def _audit(store: Store, action: str, **detail: object) -> None:
    """Write a change made on the command line to the audit log, as the system user who made it."""
    from labdeck.admin.audit import Audit
    from labdeck.types import Client

    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        who = f"uid {os.getuid()}"
    await Audit(store).record(Client(role="admin", user=who, via="cli"), action, **detail)


def _users(store: Store) -> Users:
    from labdeck.auth.users import Users

    return Users(store)


async def _user_add(store: Store, args: argparse.Namespace) -> int:
    from labdeck.auth.names import check_name

    check_name("user", args.name)  # before asking for a password that would be wasted
    await _users(store).add(args.name, args.role, _read_password(args))
    await _audit(store, "user.add", user=args.name, role=args.role)
    print(f"user {args.name!r} added as {args.role}")
    return 0


async def _user_del(store: Store, args: argparse.Namespace) -> int:
    await _users(store).delete(args.name)
    await _audit(store, "user.delete", user=args.name)
    print(f"user {args.name!r} deleted")
    await _sessions_ended(args)
    return 0


async def _user_list(store: Store, args: argparse.Namespace) -> int:
    rows = [(u.name, u.role, _when(u.created), _when(u.last_login)) for u in await _users(store).list()]
    _table(("NAME", "ROLE", "CREATED", "LAST LOGIN"), rows)
    return 0


async def _user_passwd(store: Store, args: argparse.Namespace) -> int:
    await _users(store).set_password(args.name, _read_password(args))
    await _audit(store, "user.password", user=args.name)
    print(f"password of {args.name!r} changed; their sessions have ended")
    await _sessions_ended(args)
    return 0


async def _sessions_ended(args: argparse.Namespace) -> None:
    from labdeck.auth.revocation import Notice

    await _tell_servers(args, Notice("session"))


def _read_password(args: argparse.Namespace) -> str:
    """One line of stdin (without its line end), or typed twice at a prompt that does not echo."""
    from labdeck.auth.passwords import Passwords

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        Passwords.check(password)
        return password
    password = getpass.getpass("Password: ")
    Passwords.check(password)  # before the second prompt: no point repeating a refused one
    if getpass.getpass("Repeat password: ") != password:
        raise InvalidArguments("the two passwords differ; nothing changed")
    return password


# -- tokens -----------------------------------------------------------------------------


def _tokens(store: Store) -> Tokens:
    from labdeck.auth.tokens import Tokens

    return Tokens(store)


async def _token_add(store: Store, args: argparse.Namespace) -> int:
    token = await _tokens(store).add(args.name, args.role, expires_days=args.expires)
    await _audit(store, "token.add", token=args.name, role=args.role, expires_days=args.expires)
    until = "never expires" if args.expires is None else f"expires {_when(time.time() + args.expires * 86400)}"
    # The token alone on stdout, so `TOKEN=$(labdeck token add ...)` works; the warning on stderr.
    print(token)
    print(f"token {args.name!r} ({args.role}, {until}): copy it now, it will not be shown again",
          file=sys.stderr)
    return 0


async def _token_list(store: Store, args: argparse.Namespace) -> int:
    rows = [(t.name, t.role, _when(t.created), _when(t.expires, "never"), _when(t.last_used))
            for t in await _tokens(store).list()]
    _table(("NAME", "ROLE", "CREATED", "EXPIRES", "LAST USED"), rows)
    return 0


async def _token_revoke(store: Store, args: argparse.Namespace) -> int:
    await _tokens(store).revoke(args.name)
    await _audit(store, "token.revoke", token=args.name)
    print(f"token {args.name!r} revoked")
    from labdeck.auth.revocation import Notice

    await _tell_servers(args, Notice("token", args.name))
    return 0


async def _tell_servers(args: argparse.Namespace, notice: Notice) -> None:
    """With ``[broker] url`` naming Redis, have every running server close the websockets
    of what was revoked now (see :mod:`labdeck.auth.revocation`); a warning if it cannot."""
    url = getattr(args, "broker_url", None)
    if not url or url == "memory://":
        return
    import redis.asyncio as aioredis

    from labdeck.auth.revocation import announce

    try:
        redis = aioredis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            await announce(redis, args.broker_prefix, notice)
        finally:
            await redis.aclose()
    except Exception as exc:
        print(f"warning: the running servers were not told ({exc}); they close the websockets at their "
              "next session sweep", file=sys.stderr)


# -- certificates -----------------------------------------------------------------------


def _cert(args: argparse.Namespace, data_dir: Path) -> int:
    from labdeck.auth.cert import make_certificate

    cert, key = make_certificate(args.host, args.out or data_dir / "tls", days=args.days, force=args.force)
    print(f"wrote {cert} and {key} (self-signed, {args.days} days, for {', '.join(args.host)})")
    print(f'use them with:\n\n[tls]\ncert = "{cert}"\nkey = "{key}"')
    return 0


# -- output -----------------------------------------------------------------------------


def _when(t: float | None, none: str = "-") -> str:
    return none if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
