"""``labdeck agent``: watches folders on a scanner or rig PC and forwards what lands.

The agent watches its folders as a server's watches do (the same write-complete rules,
rescans, restarts), reads DICOM headers locally (pixel data and patient fields never
leave the machine) and puts each landed file on its queue on disk (SQLite,
:mod:`~labdeck.watch.agent.outbox`). A sender connects out to the server's ``/ws`` with
an API token (an operator's) through :class:`labdeck.client.Client`, says hello on each
connection, and sends the queue from where the server says it stopped, so that what
happened while it was away arrives, exactly once. A lost connection is retried after a
pause that doubles from :data:`RETRY_FIRST` to :data:`RETRY_MAX` (with jitter), back to
the shortest once connected.

On request (``agents/<name>``) it sends a file's contents in chunks with the SHA-256
of the whole, but only a regular file inside one of its watched roots (resolved, so no
``..`` and no symlink leads out), and at most ``max_fetch`` bytes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import random
import re
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Literal

import aiohttp
import msgspec

from labdeck.client import Client, DeckError, Push, Subscription
from labdeck.exceptions import ConfigError, UnreadableFile
from labdeck.store import Store
from labdeck.watch.agent import outbox
from labdeck.watch.config import WatchConfig
from labdeck.watch.folder import Landed
from labdeck.watch.ledger import Ledger
from labdeck.watch.watcher import Watcher

__all__ = ["RETRY_FIRST", "RETRY_MAX", "Agent", "AgentWatch", "parse_watch"]

RETRY_FIRST = 0.25
RETRY_MAX = 10.0
BATCH = 200
CHUNK = 256 << 10
CALL_TIMEOUT = 30.0
MAX_FRAME = 1 << 20
AGAIN = ("Disconnected", "Timeout")
"""Errors after which the agent says hello again: the connection dropped or hung."""
log = logging.getLogger("labdeck.agent")


class AgentWatch(msgspec.Struct, frozen=True):
    """One ``--watch PATH[:kind]``: the folder, its kind and the name it goes by."""

    name: str
    root: Path
    kind: Literal["files", "dicom"]


def parse_watch(text: str, taken: set[str]) -> AgentWatch:
    """``PATH[:kind]`` (kind ``files``, the default, or ``dicom``), named after its folder.

    Raises:
        ConfigError: an unknown kind.
    """
    path, kind = text, "files"
    head, sep, tail = text.rpartition(":")
    if sep and tail in ("files", "dicom"):
        path, kind = head, tail
    elif sep and head and "/" not in tail and "\\" not in tail and not re.match(r"^[A-Za-z]$", head):
        raise ConfigError(f"--watch {text!r}: the kind must be files or dicom")
    root = Path(path).expanduser().resolve()
    base = re.sub(r"[^A-Za-z0-9_\-]+", "-", root.name).strip("-")[:48] or "root"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return AgentWatch(name, root, "dicom" if kind == "dicom" else "files")


class Agent:
    """The agent; :meth:`run` it until cancelled.

    Args:
        url: the server's ``/ws`` URL.
        token: an API token of the operator role.
        watches: its folders.
        data: the folder of its queue (``agent.sqlite``).
        name: how the server knows it (default: the host name).
        ca: a CA file to trust for ``wss://``.
        max_fetch: the largest file it sends on request.
        retry_max: the longest pause between attempts to connect.
    """

    def __init__(
        self,
        url: str,
        token: str,
        watches: list[AgentWatch],
        data: Path,
        name: str | None = None,
        ca: Path | None = None,
        max_fetch: int = 256 << 20,
        retry_max: float = RETRY_MAX,
    ) -> None:
        self.url, self.token, self.ca, self.max_fetch, self.retry_max = url, token, ca, max_fetch, retry_max
        self.watches = {w.name: w for w in watches}
        self.name = name or re.sub(r"[^A-Za-z0-9_\-]+", "-", socket.gethostname()).strip("-")[:64] or "agent"
        self.store = Store(data / "agent.sqlite")
        self.sent = 0
        self._client: Client | None = None
        self._greeted = 0  # the connection number the agent last said hello on
        self._beat = 5.0
        self._landed: asyncio.Queue[tuple[AgentWatch, Landed]] = asyncio.Queue()
        self._queued = asyncio.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labdeck-agent-dicom")
        self._watchers: list[Watcher] = []
        self._tasks: list[asyncio.Task[Any]] = []

    async def run(self) -> None:
        """Watch and send until cancelled; then stop everything and close the queue."""
        loop = asyncio.get_running_loop()
        try:
            if any(w.kind == "dicom" for w in self.watches.values()):
                import pydicom  # noqa: F401  (once, here, rather than half-imported from the reader thread)
            for w in self.watches.values():
                watcher = Watcher(
                    w.name,
                    WatchConfig(path=str(w.root), kind=w.kind),
                    w.root,
                    Ledger(None, w.name),
                    self._local,
                    self._landing(w),
                    log,
                )
                self._watchers.append(watcher)
                watcher.start()
            self._tasks = [
                loop.create_task(self._queue_files(), name="agent-queue"),
                loop.create_task(self._send_forever(), name="agent-send"),
            ]
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(BaseException):
                    await task
            for watcher in self._watchers:
                await watcher.stop()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self.store.close()

    def _landing(self, watch: AgentWatch) -> Callable[[Landed], None]:
        def landed(file: Landed) -> None:
            self._landed.put_nowait((watch, file))

        return landed

    def _local(self, ch: str, data: Any) -> None:
        """The watchers' own messages: their state, for this machine's log."""
        if isinstance(data, dict) and data.get("event") == "problem":
            log.info("%s: %s: %s", data.get("watch"), data.get("path"), data.get("reason"))

    # -- landed files onto the queue -------------------------------------------------

    async def _queue_files(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            watch, file = await self._landed.get()
            mtime_ns = round(file.mtime * 1e9)
            if await self.store.run(
                partial(outbox.seen, watch=watch.name, path=file.path, size=file.size, mtime_ns=mtime_ns)
            ):
                continue  # queued before a restart; its rescan found it again
            body: dict[str, Any] = {"path": file.path, "size": file.size, "mtime": file.mtime}
            if watch.kind == "dicom":
                try:
                    body["header"] = msgspec.to_builtins(await loop.run_in_executor(self._pool, _read, file.abs))
                except UnreadableFile as exc:
                    body["problem"] = exc.message
            if await self.store.run(partial(outbox.put, watch=watch.name, body=body, mtime_ns=mtime_ns)) is not None:
                self._queued.set()

    # -- the queue to the server -----------------------------------------------------

    async def _send_forever(self) -> None:
        """Connect (retrying with backoff until the first connection opens), then serve
        over that client, which reconnects by itself; start over only when the server
        refuses the agent."""
        delay = RETRY_FIRST
        while True:
            client = Client(self.url, token=self.token, ca=self.ca, timeout=CALL_TIMEOUT, retry_max=self.retry_max,
                            max_frame=MAX_FRAME)
            try:
                await client.connect()
                delay = RETRY_FIRST
                await self._serve(client)
            except aiohttp.WSServerHandshakeError as exc:
                log.error("agent %s: the server refused the connection: %s %s", self.name, exc.status, exc.message)
            except DeckError as exc:
                log.error("agent %s: the server refused this agent: %s", self.name, exc)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("agent %s: cannot reach %s: %s", self.name, self.url, exc or type(exc).__name__)
            finally:
                self._client = None
                await client.close()
            pause = delay * (0.75 + random.random() / 2)
            log.info("agent %s: connecting again in %.1f s", self.name, pause)
            await asyncio.sleep(pause)
            delay = min(delay * 2, self.retry_max)

    @property
    def connected(self) -> bool:
        """Whether the agent has said hello on the connection that is open now."""
        client = self._client
        return client is not None and client.state == "open" and client.connection_number == self._greeted

    async def _serve(self, client: Client) -> None:
        """Say hello and send the queue on each of ``client``'s connections, until cancelled.

        Raises:
            DeckError: the server refused the agent (a role too low, a bad hello).
        """
        self._client = client
        requests: Subscription | None = None
        try:
            while True:
                number = client.connection_number
                try:
                    channel, last = await self._hello(client)
                    if requests is None:
                        requests = await client.subscribe(channel)
                        self._tasks.append(asyncio.get_running_loop().create_task(self._follow(client, requests)))
                    self._greeted = number
                    log.info("agent %s: connected to %s", self.name, self.url)
                    await self._send_queue(client, number, last)
                except DeckError as exc:
                    if exc.type not in AGAIN:
                        raise
                    log.info("agent %s: %s; saying hello again", self.name, exc)
        except asyncio.CancelledError:
            with contextlib.suppress(DeckError, TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(client.call(["agents", "bye"], self.name), 1.0)
            raise

    async def _hello(self, client: Client) -> tuple[str, int]:
        """``agents.hello``: the channel of the server's requests, and the newest entry it took."""
        queue = await self.store.run(outbox.identity)
        kinds = {n: w.kind for n, w in self.watches.items()}
        hello = await client.call(["agents", "hello"], self.name, queue, kinds)
        last = int(hello["last_seq"])
        self._beat = float(hello.get("beat", self._beat))
        await self.store.run(lambda db: outbox.drop_through(db, last))
        return str(hello["channel"]), last

    async def _send_queue(self, client: Client, number: int, last: int) -> None:
        """Send the queue after ``last`` and beat while it is empty; returns once the
        client has reconnected (a new connection says hello first)."""
        try:
            await self._send_rows(client, number, last)
        except DeckError as exc:
            if exc.type != "NotFound":
                raise
            # the request went out on a new connection, to a server that has not heard
            # this agent's hello (another process, or one restarted): say it again

    async def _send_rows(self, client: Client, number: int, last: int) -> None:
        queue = await self.store.run(outbox.identity)
        while client.connection_number == number:
            self._queued.clear()  # before the take: a file queued during it is seen next turn
            rows = await self.store.run(partial(outbox.take, after=last, limit=BATCH))
            if rows:
                backlog = await self.store.run(partial(outbox.waiting, after=rows[-1]["seq"]))
                reply = await client.call(["agents", "events"], self.name, queue, rows, backlog)
                last = int(reply["last_seq"])
                self.sent += len(rows)
                await self.store.run(partial(outbox.drop_through, seq=last))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queued.wait(), self._beat)
            if not self._queued.is_set() and client.connection_number == number:
                await client.call(["agents", "beat"], self.name)

    # -- files on request ------------------------------------------------------------

    async def _follow(self, client: Client, requests: Subscription) -> None:
        async for item in requests:
            request = item.data if isinstance(item, Push) else None
            if isinstance(request, dict) and isinstance(request.get("fetch"), int):
                self._tasks.append(asyncio.get_running_loop().create_task(self._send_file(client, request)))

    def resolve(self, watch: Any, path: Any) -> Path:
        """The file ``path`` of ``watch``, inside its root.

        Raises:
            PermissionError: no such watch, or the path leads out of its root.
            FileNotFoundError: no such regular file.
        """
        w = self.watches.get(watch) if isinstance(watch, str) else None
        if w is None or not isinstance(path, str):
            raise PermissionError("not one of this agent's watches")
        root = w.root.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            raise PermissionError("the path leads out of the watched folder")
        if not target.is_file():
            raise FileNotFoundError("no such file")
        return target

    async def _send_file(self, client: Client, request: dict[str, Any]) -> None:
        fid = request["fetch"]
        try:
            target = self.resolve(request.get("watch"), request.get("path"))
            if target.stat().st_size > self.max_fetch:
                raise PermissionError(f"larger than this agent sends ({self.max_fetch} bytes)")
            digest = hashlib.sha256()
            with target.open("rb") as fp:
                part = await asyncio.to_thread(fp.read, CHUNK)
                while True:
                    digest.update(part)
                    following = await asyncio.to_thread(fp.read, CHUNK)
                    last = not following
                    wanted = await client.call(
                        ["agents", "chunk"],
                        self.name,
                        fid,
                        base64.b64encode(part).decode(),
                        last,
                        digest.hexdigest() if last else "",
                    )
                    if not wanted:
                        return  # the server no longer waits for it (a request replayed after it ended)
                    if last:
                        break
                    part = following
            log.info("agent %s: sent %s/%s", self.name, request.get("watch"), request.get("path"))
        except (OSError, PermissionError) as exc:
            reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else type(exc).__name__
            log.warning("agent %s: refused %r: %s", self.name, request.get("path"), reason)
            with contextlib.suppress(DeckError):
                await client.call(["agents", "refuse"], self.name, fid, reason)
        except DeckError as exc:
            log.warning("agent %s: sending %r failed: %s", self.name, request.get("path"), exc)


def _read(path: Path) -> Any:
    from labdeck.watch.dicom.headers import EXTRA_FIELDS, read_header

    return read_header(path, EXTRA_FIELDS)  # the server's references may check any of them
