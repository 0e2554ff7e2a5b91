"""One script as an operating-system process: start, lines out as printed, stop, exit.

The process starts in a session of its own, so it and every child it starts share one
process group that labdeck can signal as a whole. On Linux it also dies with the server:
a tiny wrapper sets the parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), then
executes the script in the same process. The kernel sends that signal when the *thread*
that created the process ends, so processes are created only on the event loop's thread,
which lives as long as the server. The signal reaches the script alone, not the children
it starts; those, and every system without the signal, are caught by the next server
(see :mod:`labdeck.runner.orphans`). Its stdout and stderr are pipes read
on the event loop; each complete line is handed to ``on_line(stream, text)`` as soon
as it arrives. A script that wants its lines seen at once must not buffer them: Python
scripts run with ``-u``; other programs should flush (or use ``stdbuf -oL``).

Limits, and what happens past them:

* a line longer than :data:`MAX_LINE` bytes is cut into pieces of that size; every
  piece but the last ends with :data:`CONTINUED`;
* bytes that are not UTF-8 become U+FFFD, never an error;
* after the process exits, labdeck sends SIGKILL to whatever is left of its process
  group, then reads what the pipes still hold for at most :data:`DRAIN` seconds. A
  daemon that left the group (``setsid``) is out of reach of signals; if it keeps the
  pipes open, the run still ends when the script itself does.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from labdeck.runner import proc

__all__ = ["CONTINUED", "DRAIN", "MAX_LINE", "LineSplitter", "ScriptProcess"]

MAX_LINE = 64 * 1024
CONTINUED = " [line continues]"
DRAIN = 1.0

# Runs as ``python -I -S -c _DIE_WITH_PARENT <server pid> <argv...>``: no site, no
# environment, so it costs a few milliseconds. A server that died before prctl took
# effect is seen as a changed parent. 1 is PR_SET_PDEATHSIG, 9 SIGKILL (prctl(2)).
_DIE_WITH_PARENT = """\
import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)
if os.getppid() != int(sys.argv[1]):
    os.kill(os.getpid(), 9)
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as exc:
    print(f"cannot start {sys.argv[2]}: {exc.strerror}", file=sys.stderr)
    sys.exit(127)
"""

OnLine = Callable[[str, str], None]
"""``on_line(stream, text)``: stream is ``"stdout"``, ``"stderr"`` or ``"labdeck"``."""


class LineSplitter:
    """Bytes in, complete text lines out; at most ``limit`` bytes per line."""

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._decode = codecs.getincrementaldecoder("utf-8")("replace").decode

    def feed(self, data: bytes) -> list[str]:
        """The lines ``data`` completes (without their newline)."""
        buf = self._buf
        buf += data
        lines: list[str] = []
        start, limit = 0, self.limit
        while True:
            end = buf.find(b"\n", start)
            if 0 <= end <= start + limit:
                lines.append(self._text(buf[start:end], final=True))
                start = end + 1
            elif len(buf) - start > limit:  # an over-long line: cut at a character boundary
                cut, lowest = start + limit, start + max(1, limit - 3)  # a UTF-8 character is <= 4 bytes
                while cut > lowest and (buf[cut] & 0xC0) == 0x80:
                    cut -= 1
                lines.append(self._text(buf[start:cut], final=False) + CONTINUED)
                start = cut
            else:
                break
        del buf[:start]
        return lines

    def close(self) -> list[str]:
        """What is left at end of stream: a last line without a newline, if any."""
        if not self._buf:
            return []
        rest = self._text(bytes(self._buf), final=True)
        self._buf.clear()
        return [rest]

    def _text(self, raw: bytes | bytearray, *, final: bool) -> str:
        text = self._decode(bytes(raw), final)
        return text[:-1] if final and text.endswith("\r") else text


class _Pipes(asyncio.SubprocessProtocol):
    def __init__(self, proc: ScriptProcess) -> None:
        self.proc = proc

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.proc._received(fd, data if isinstance(data, bytes) else data.encode())

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.proc._pipe_closed(fd)

    def process_exited(self) -> None:
        self.proc._exited.set()


class ScriptProcess:
    """A started script.

    Args:
        argv: the program and its arguments.
        cwd: the working folder.
        env: the whole environment of the process.
        on_line: called on the event loop for every line, in order per stream.
    """

    def __init__(self, argv: Sequence[str], cwd: str, env: Mapping[str, str], on_line: OnLine) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env)
        self.on_line = on_line
        self.pid: int | None = None
        self.start_mark: str | None = None
        """The process's :func:`~labdeck.runner.proc.start_mark` once started (Linux only)."""
        self.stopping = False
        self._transport: asyncio.SubprocessTransport | None = None
        self._splitters = {1: LineSplitter(), 2: LineSplitter()}
        self._open_pipes = {1, 2}
        self._exited = asyncio.Event()
        self._pipes_done = asyncio.Event()

    async def start(self) -> None:
        """Create the process.

        Raises:
            OSError: the program is missing, not executable, or the folder is missing.
        """
        loop = asyncio.get_running_loop()
        transport, _ = await loop.subprocess_exec(
            lambda: _Pipes(self),
            *self._command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.cwd,
            env=self.env,
            start_new_session=True,
        )
        self._transport = transport
        self.pid = transport.get_pid()
        self.start_mark = proc.start_mark(self.pid)

    def _command(self) -> list[str]:
        """The argv to execute: the script's own, behind the parent-death wrapper on Linux.

        Raises:
            OSError: the program cannot be found or executed (checked here because the
                wrapper would only report it once it runs).
        """
        if sys.platform != "linux" or not sys.executable:
            return self.argv
        _check_program(self.argv[0], self.cwd, self.env)
        return [sys.executable, "-I", "-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), *self.argv]

    @property
    def exited(self) -> bool:
        return self._exited.is_set()

    async def wait(self) -> int:
        """Wait for the exit, clean up the process group and the pipes; the exit status.

        Returns:
            The exit code, or minus the signal number that ended the process.
        """
        await self._exited.wait()
        self._signal_group(signal.SIGKILL)  # leftovers of the run die with it
        self.resume_reading()  # what is left is at most one pipe buffer: read it all
        try:
            await asyncio.wait_for(self._pipes_done.wait(), DRAIN)
        except TimeoutError:
            self.on_line("labdeck", "output pipes still held open by a detached process; no longer reading them")
        assert self._transport is not None
        code = self._transport.get_returncode()
        self._transport.close()
        for fd in list(self._open_pipes):
            self._pipe_closed(fd)
        return -1 if code is None else code

    async def stop(self, grace_int: float, grace_term: float) -> None:
        """SIGINT, then SIGTERM after ``grace_int`` s, then SIGKILL after ``grace_term`` s.

        Each signal goes to the whole process group and is logged on the ``labdeck``
        stream. Returns when the process has exited (it cannot outlive SIGKILL).
        """
        self.stopping = True
        steps: list[tuple[signal.Signals, float | None]] = [
            (signal.SIGINT, grace_int),
            (signal.SIGTERM, grace_term),
            (signal.SIGKILL, None),
        ]
        for sig, grace in steps:
            if self.exited:
                return
            self.on_line("labdeck", f"sending {sig.name} to process group {self.pid}")
            self._signal_group(sig)
            if grace is None:
                break
            try:
                await asyncio.wait_for(asyncio.shield(self._exited.wait()), grace)
                return
            except TimeoutError:
                self.on_line("labdeck", f"still running {grace:g} s after {sig.name}")
        await self._exited.wait()

    def pause_reading(self) -> None:
        """Stop reading the pipes: the script blocks on its next write (back-pressure)."""
        self._each_pipe("pause_reading")

    def resume_reading(self) -> None:
        self._each_pipe("resume_reading")

    def _each_pipe(self, method: str) -> None:
        if self._transport is None:
            return
        for fd in (1, 2):
            pipe: Any = self._transport.get_pipe_transport(fd)
            if pipe is not None and not pipe.is_closing():
                getattr(pipe, method)()

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
            os.killpg(self.pid, sig)

    def _received(self, fd: int, data: bytes) -> None:
        stream = "stdout" if fd == 1 else "stderr"
        for line in self._splitters[fd].feed(data):
            self.on_line(stream, line)

    def _pipe_closed(self, fd: int) -> None:
        if fd not in self._open_pipes:
            return
        self._open_pipes.discard(fd)
        for line in self._splitters[fd].close():
            self.on_line("stdout" if fd == 1 else "stderr", line)
        if not self._open_pipes:
            self._pipes_done.set()


def _check_program(program: str, cwd: str, env: Mapping[str, str]) -> None:
    """Raise the :class:`OSError` executing ``program`` from ``cwd`` with ``env`` would raise."""
    if not os.path.isdir(cwd):
        return  # creating the process reports the missing folder itself
    if os.sep in program:
        path = os.path.join(cwd, program)
        if not os.path.isfile(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
        if not os.access(path, os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    elif shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
