"""``dataInterface``: the scanner's files, within the allowed folders and file types.

The script reads and writes files on the machine it runs on, as rt-cloud's local mode
does: a scanner folder reaches it through a mount, or through ``labdeck agent`` copying
into a watched folder. Every path is checked after symbolic links are resolved, so
neither ``..`` nor a link pointing out leaves the allowed folders.
"""

from __future__ import annotations

import glob
import io
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labdeck.compat.rtcloud.errors import InvocationError, RequestError, StateError, ValidationError

__all__ = ["POLL", "DataInterface"]

POLL = 0.01
"""Seconds between looks at a watched folder."""
_RETRIES = 5  # getImageData's attempts at a file that is late, as rt-cloud makes them


def _split_pattern(pattern: str) -> tuple[str, str]:
    """The folder before the first wildcard, and the rest of the pattern."""
    parts = Path(pattern).parts
    cut = next((i for i, part in enumerate(parts) if any(c in part for c in "*?")), len(parts) - 1)
    return str(Path(*parts[:cut])), "/".join(parts[cut:])


def _pattern_regex(rest: str) -> re.Pattern[str]:
    """A glob (``**`` for any folders, ``*`` and ``?`` within a name) as a regular expression."""
    out = []
    for token in re.split(r"(\*\*/|\*\*|\*|\?)", rest):
        out.append({"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token)))
    return re.compile("".join(out))


def _dotted(file_type: str) -> str:
    """A file type as an ending with its dot: ``"dcm"`` is ``".dcm"``; ``"*"`` stays."""
    return file_type if file_type == "*" or file_type.startswith(".") else "." + file_type


class DataInterface:
    """rt-cloud's ``DataInterface`` in local mode, under labdeck's path rules.

    Args:
        dataRemote: accepted for rt-cloud's signature; labdeck has no remote data mode
            (``True`` is refused). ``dataremote``, its earlier spelling, too.
        allowedDirs: folders that may be used, everything under them included; ``["*"]``
            allows any (rt-cloud's local mode, what a script run by hand gets).
        allowedFileTypes: endings of file names that may be used (``".dcm"``; ``"dcm"`` is
            taken as ``".dcm"``, as rt-cloud does); ``["*"]`` allows any.

    Raises:
        RequestError: ``dataRemote`` is true.
    """

    def __init__(self, dataRemote: bool = False, allowedDirs: Sequence[str | os.PathLike[str]] | None = None,
                 allowedFileTypes: Sequence[str] | None = None, *, dataremote: bool = False) -> None:
        if dataRemote or dataremote:
            raise RequestError("labdeck has no remote data mode: the script reads the files where it runs")
        dirs = [str(d) for d in allowedDirs or ()]
        self._any_dir = "*" in dirs
        self._roots = tuple(Path(os.path.realpath(os.path.expanduser(d))) for d in dirs if d != "*")
        self.allowedFileTypes = [_dotted(t) for t in allowedFileTypes or ()]
        self._watch: tuple[Path, str, int, float] | None = None
        self._last_found = 0.0
        self._stream: dict[str, Any] | None = None
        self.currentStreamId = 0
        self.scannerClockSkew = 0.0

    # -- checks -------------------------------------------------------------------

    def _checked(self, path: str | os.PathLike[str], pattern: bool = False) -> Path:
        """``path`` made absolute and resolved, once it is known to be allowed."""
        if not self._roots and not self._any_dir:
            raise ValidationError("DataInterface: no allowed directories are set")
        given = Path(os.path.expanduser(path))
        real = Path(os.path.realpath(given if given.is_absolute() else Path.cwd() / given))
        if not self._any_dir and not any(real == root or real.is_relative_to(root) for root in self._roots):
            raise ValidationError(f"Path {os.fspath(path)} is not within the allowed directories "
                                  f"{[str(r) for r in self._roots]}")
        if not pattern:
            self._check_type(given.name)
            self._check_type(real.name)
        return real

    def _check_type(self, name: str) -> None:
        if not self.allowedFileTypes:
            raise ValidationError("DataInterface: no allowed file types are set")
        if not self._type_allowed(name):
            raise ValidationError(f"File type of {name} not in the allowed file types {self.allowedFileTypes}")

    def _type_allowed(self, name: str) -> bool:
        return "*" in self.allowedFileTypes or any(name.endswith(t) for t in self.allowedFileTypes)

    # -- files --------------------------------------------------------------------

    def getFile(self, filename: str) -> bytes:
        """The bytes of ``filename``, now.

        Raises:
            ValidationError: outside the allowed folders or types.
            FileNotFoundError: no such file.
        """
        return self._checked(filename).read_bytes()

    def getNewestFile(self, filepattern: str) -> bytes:
        """The bytes of the most recently changed allowed file matching ``filepattern``.

        Raises:
            FileNotFoundError: none matches.
        """
        found = self.listFiles(filepattern)
        if not found:
            raise FileNotFoundError(f"No file found matching pattern {filepattern}")
        return self.getFile(max(found, key=os.path.getmtime))

    def putFile(self, filename: str, data: str | bytes, compress: bool = False) -> None:
        """Write ``data`` (text as UTF-8) to ``filename``, making its folders; ``compress`` is
        accepted for rt-cloud's signature (nothing travels)."""
        target = self._checked(filename)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else bytes(data))

    def listFiles(self, filepattern: str) -> list[str]:
        """Allowed files matching the absolute glob ``filepattern`` (``**`` reaches into folders).

        Raises:
            RequestError: the pattern is not an absolute path.
        """
        if not os.path.isabs(filepattern):
            raise RequestError(f"listFiles must have an absolute path: {filepattern}")
        base, rest = _split_pattern(filepattern)
        self._checked(base, pattern=True)
        match = _pattern_regex(rest).fullmatch
        found = []
        for folder, _, names in os.walk(base):  # links to folders are not followed: no loops, no aliases
            for name in names:
                path = os.path.join(folder, name)
                if match(os.path.relpath(path, base)) and os.path.isfile(path) and self._allows(path):
                    found.append(path)
        return sorted(found)

    def listDirs(self, dirpattern: str) -> list[str]:
        """Allowed folders matching the absolute glob ``dirpattern``."""
        if not os.path.isabs(dirpattern):
            raise RequestError(f"listDirs must have an absolute path: {dirpattern}")
        self._checked(os.path.dirname(dirpattern), pattern=True)
        return [d for d in sorted(glob.iglob(dirpattern)) if os.path.isdir(d) and self._allows(d, folder=True)]

    def _allows(self, path: str, folder: bool = False) -> bool:
        try:
            self._checked(path, pattern=folder)
        except ValidationError:
            return False
        return True

    def getAllowedFileTypes(self) -> list[str]:
        """The file endings that may be read and written."""
        return list(self.allowedFileTypes)

    # -- watching -----------------------------------------------------------------

    def initWatch(self, dir: str, filePattern: str, minFileSize: int, demoStep: float = 0) -> None:
        """Watch ``dir`` for files matching the glob ``filePattern`` of at least
        ``minFileSize`` bytes; ``demoStep``: seconds at least between two files returned."""
        if not any(c in filePattern for c in "*?[") and filePattern:
            self._check_type(filePattern)
        self._watch = (self._checked(dir, pattern=True), filePattern, int(minFileSize), float(demoStep))

    def watchFile(self, filename: str, timeout: float = 5) -> bytes:
        """The bytes of ``filename`` in the watched folder once it is there and done.

        Raises:
            StateError: :meth:`initWatch` was not called.
            RequestError: ``filename`` names another folder than the watched one.
            TimeoutError: the file did not arrive within ``timeout`` seconds.
        """
        if self._watch is None:
            raise StateError("DataInterface: watchFile() called without an initWatch()")
        folder, _, min_size, step = self._watch
        head, _ = os.path.split(filename)
        if head and Path(os.path.realpath(head)) != folder:
            raise RequestError(f"DataInterface: watchFile: {head} is not the watched folder {folder}")
        path = self._checked(folder / os.path.basename(filename))
        if not self._wait_done(path, min_size, time.monotonic() + timeout):
            raise TimeoutError(f"WatchFile: Timeout {timeout}s: {filename}")
        wait = self._last_found + step - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_found = time.monotonic()
        return path.read_bytes()

    @staticmethod
    def _wait_done(path: Path, min_size: int, deadline: float) -> bool:
        """Whether ``path`` reached ``min_size`` bytes and stopped growing before ``deadline``."""
        last = -1
        while True:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                size = -1
            if size >= max(min_size, 0) and size == last:
                return True
            if time.monotonic() > deadline:
                return False
            last = size
            time.sleep(POLL)

    # -- the scanner stream -------------------------------------------------------

    def initScannerStream(self, imgDir: str, filePattern: str, minFileSize: int, demoStep: float = 0) -> int:
        """Start a stream of the images ``filePattern`` names (``"scan_{TR:03d}.dcm"``) in
        ``imgDir``; returns its id for :meth:`getImageData`. One stream at a time.

        Raises:
            InvocationError: ``filePattern`` has no ``{TR}`` field.
        """
        if not re.search(r"\{TR[^}]*\}", filePattern):
            raise InvocationError("initScannerStream filePattern must have a {TR} pattern")
        self._check_type(filePattern)
        self.initWatch(imgDir, "*" + os.path.splitext(filePattern)[1], minFileSize, demoStep)
        self.currentStreamId += 1
        self._stream = {"id": self.currentStreamId, "pattern": filePattern, "index": 0}
        return self.currentStreamId

    def getImageData(self, streamId: int, imageIndex: int | None = None, timeout: float = 5) -> Any:
        """The pydicom dataset of image ``imageIndex`` of the stream (default: the one after
        the last asked for), waiting for it to arrive; ``None`` if it never does or cannot
        be read (what went wrong is printed to stderr, as rt-cloud logs it).

        Raises:
            ValidationError: ``streamId`` is not the current stream's.
        """
        import pydicom

        stream = self._stream
        if stream is None or stream["id"] != streamId:
            raise ValidationError(f"StreamID mismatch {self.currentStreamId} : {streamId}")
        index = stream["index"] if imageIndex is None else imageIndex
        filename = stream["pattern"].format(TR=index)
        for _ in range(_RETRIES):
            try:
                data = self.watchFile(filename, timeout)
                image = pydicom.dcmread(io.BytesIO(data))
            except TimeoutError:
                print(f"getImageData: timeout waiting for {filename}, trying again", file=sys.stderr, flush=True)
                continue
            except Exception as exc:  # rt-cloud's contract: a bad image is None, not a crash
                print(f"getImageData: {filename}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                return None
            stream["index"] = index + 1
            return image
        return None

    # -- clocks -------------------------------------------------------------------

    def ping(self) -> float:
        """This machine's time, in seconds since the epoch."""
        return time.time()

    def getClockSkew(self, callerClockTime: float, roundTripTime: float) -> float:
        """Seconds the scanner's clock is ahead of the caller's, given the caller's time
        and the round trip it measured (``scannerClockSkew`` adds the scanner's own)."""
        return time.time() - (callerClockTime + roundTripTime / 2.0) + self.scannerClockSkew
