"""Several real ``labdeck serve`` processes on loopback ports, sharing one Redis.

Each process is a subprocess with its own port and data folder, as on two hosts; all
use the test's own key prefix, wiped afterwards. ``redis_server`` starts a private
Redis (on a free port, persisting every write) for tests that stop and restart it:
the shared one on 6379 is never restarted.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.broker.conftest import REDIS_URL, wipe
from tests.helpers import free_port, scaled


class Server:
    """One ``labdeck serve`` process."""

    def __init__(self, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.port = port
        self.proc = proc
        self.log = log

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def health(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{self.port}/healthz") as resp:
            body: dict[str, Any] = await resp.json()
            return body

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(scaled(10))


class Servers:
    """Starts servers on one Redis prefix; stops them all at the end."""

    def __init__(self, root: Path, redis_url: str, prefix: str) -> None:
        self.root = root
        self.redis_url = redis_url
        self.prefix = prefix
        self.started: list[Server] = []

    async def start(
        self, count: int = 1, *, workers: int = 1, port: int | None = None, config: Path | None = None,
        data: Path | None = None,
    ) -> list[Server]:
        """Start ``count`` servers; ``config`` is a project's file, ``data`` a data folder
        they share (as workers on one host do; by default each has its own)."""
        servers = [self._spawn(port or free_port(), workers, config, data) for _ in range(count)]
        for server in servers:
            await self._wait_listening(server)
        return servers

    def _spawn(self, port: int, workers: int, config: Path | None, data: Path | None) -> Server:
        data = data or self.root / f"data-{port}"
        log = self.root / f"server-{port}.log"
        env = {**os.environ, "LABDECK_BROKER_URL": self.redis_url, "LABDECK_BROKER_PREFIX": self.prefix,
               "LABDECK_PORT": str(port), "LABDECK_DATA": str(data), "LABDECK_CONFIG": ""}
        env.pop("LABDECK_WORKER", None)
        cmd = [sys.executable, "-m", "labdeck", "serve", *(["--workers", str(workers)] if workers > 1 else []),
               *(["--config", str(config)] if config else [])]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, env=env, cwd=self.root, stdout=out, stderr=subprocess.STDOUT)
        server = Server(port, proc, log)
        self.started.append(server)
        return server

    async def _wait_listening(self, server: Server) -> None:
        deadline = time.monotonic() + scaled(20)
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise AssertionError(f"server exited with {server.proc.returncode}: {server.log.read_text()}")
            try:
                await server.health()
                return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
        raise AssertionError(f"server on {server.port} did not start: {server.log.read_text()}")

    def stop(self) -> None:
        for server in self.started:
            if server.proc.poll() is None:
                server.proc.send_signal(signal.SIGTERM)
        for server in self.started:
            try:
                server.proc.wait(scaled(15))
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[Servers]:
    prefix = f"labdeck-test-{secrets.token_hex(6)}"
    group = Servers(tmp_path, REDIS_URL, prefix)
    try:
        yield group
    finally:
        group.stop()
        await wipe(prefix)


class RedisServer:
    """A private redis-server that a test may stop and start again on the same port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe is not None, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + scaled(10)
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("the private redis-server did not start")

    def stop(self) -> None:
        """Stop it the way an operator's restart does (SIGTERM: it writes what it has)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(scaled(10))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
