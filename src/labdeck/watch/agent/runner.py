"""``labdeck agent``: watches folders on a scanner or rig PC and forwards what lands.

The agent watches its folders as a server's watches do (the same write-complete rules,
rescans, restarts), reads DICOM headers locally (pixel data and patient fields never
leave the machine) and puts each landed file on its queue on disk (SQLite,
:mod:`~labdeck.watch.agent.outbox`). A sender connects out to the server's ``/ws`` with
an API token (an operator's), says hello, and sends the queue from where the server
says it stopped, so that what happened while it was away arrives, exactly once. A lost
connection is retried after a pause that doubles from :data:`RETRY_FIRST` to
:data:`RETRY_MAX` (with jitter), back to the shortest once connected.

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

from labdeck.exceptions import ConfigError, UnreadableFile
from labdeck.store import Store
from labdeck.watch.agent import outbox
from labdeck.watch.agent.link import Link, LinkError
from labdeck.watch.config import WatchConfig
from labdeck.watch.folder import Landed
from labdeck.watch.ledger import Ledger
from labdeck.watch.watcher import Watcher

__all__ = ["RETRY_FIRST", "RETRY_MAX", "Agent", "AgentWatch", "parse_watch"]

RETRY_FIRST = 0.25
RETRY_MAX = 10.0
BATCH = 200
CHUNK = 256 << 10
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
        self.connected = False
        self.sent = 0
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
        delay = RETRY_FIRST
        while True:
            link = Link(self.url, self.token, self.ca)
            try:
                await link.open()
                delay = RETRY_FIRST
                await self._session(link)
            except LinkError as exc:
                if exc.type in ("Unauthenticated", "AccessDenied"):
                    log.error("the server refused this agent: %s", exc.message)
                else:
                    log.warning("agent %s: %s", self.name, exc)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("agent %s: cannot reach %s: %s", self.name, self.url, exc or type(exc).__name__)
            finally:
                self.connected = False
                await link.close()
            pause = delay * (0.75 + random.random() / 2)
            log.info("agent %s: connecting again in %.1f s", self.name, pause)
            await asyncio.sleep(pause)
            delay = min(delay * 2, self.retry_max)

    async def _session(self, link: Link) -> None:
        queue = await self.store.run(outbox.identity)
        kinds = {n: w.kind for n, w in self.watches.items()}
        hello = await link.call(["agents", "hello"], self.name, queue, kinds)
        last, beat = int(hello["last_seq"]), float(hello.get("beat", 5.0))
        await self.store.run(lambda db: outbox.drop_through(db, last))
        await link.subscribe(hello["channel"], lambda req: self._on_request(link, req))
        self.connected = True
        log.info("agent %s: connected to %s", self.name, self.url)
        closed = asyncio.ensure_future(link.wait_closed())
        try:
            while not closed.done():
                rows = await self.store.run(partial(outbox.take, after=last, limit=BATCH))
                if rows:
                    backlog = await self.store.run(partial(outbox.waiting, after=rows[-1]["seq"]))
                    reply = await link.call(["agents", "events"], self.name, queue, rows, backlog)
                    last = int(reply["last_seq"])
                    self.sent += len(rows)
                    await self.store.run(partial(outbox.drop_through, seq=last))
                    continue
                self._queued.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._wait_for_work(closed)), beat)
                if not closed.done() and not self._queued.is_set():
                    await link.call(["agents", "beat"], self.name)
        except asyncio.CancelledError:
            with contextlib.suppress(LinkError, TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(link.call(["agents", "bye"], self.name), 1.0)
            raise
        finally:
            closed.cancel()

    async def _wait_for_work(self, closed: asyncio.Future[Any]) -> None:
        queued: asyncio.Future[Any] = asyncio.ensure_future(self._queued.wait())
        try:
            await asyncio.wait([queued, closed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            queued.cancel()

    # -- files on request ------------------------------------------------------------

    def _on_request(self, link: Link, request: Any) -> None:
        if isinstance(request, dict) and isinstance(request.get("fetch"), int):
            self._tasks.append(asyncio.get_running_loop().create_task(self._send_file(link, request)))

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

    async def _send_file(self, link: Link, request: dict[str, Any]) -> None:
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
                    await link.call(
                        ["agents", "chunk"],
                        self.name,
                        fid,
                        base64.b64encode(part).decode(),
                        last,
                        digest.hexdigest() if last else "",
                    )
                    if last:
                        break
                    part = following
            log.info("agent %s: sent %s/%s", self.name, request.get("watch"), request.get("path"))
        except (OSError, PermissionError) as exc:
            reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else type(exc).__name__
            log.warning("agent %s: refused %r: %s", self.name, request.get("path"), reason)
            with contextlib.suppress(LinkError):
                await link.call(["agents", "refuse"], self.name, fid, reason)
        except LinkError as exc:
            log.warning("agent %s: sending %r failed: %s", self.name, request.get("path"), exc)


def _read(path: Path) -> Any:
    from labdeck.watch.dicom.headers import EXTRA_FIELDS, read_header

    return read_header(path, EXTRA_FIELDS)  # the server's references may check any of them
