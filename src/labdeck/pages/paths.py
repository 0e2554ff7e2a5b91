"""Request paths resolved inside a root folder: the one rule for pages, templates and listings.

A path from a request names a file or folder inside its root only when every segment is a
plain visible name (no ``.`` or ``..``, no leading dot, no backslash, no control character,
at most 255 bytes) and the real path, symlinks resolved, is still inside the root as
resolved on disk. Anything else is :class:`~labdeck.exceptions.NotFound`, whatever the
reason, so a probe learns nothing of what lies outside.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from labdeck.exceptions import NotFound

__all__ = ["resolve_inside", "segment_ok"]

_ROOTS: dict[Path, Path] = {}
_MAX_ROOTS = 256


def segment_ok(segment: str) -> bool:
    """Whether ``segment`` may be one name of a request path."""
    return (bool(segment) and not segment.startswith(".") and "\\" not in segment and segment.isprintable()
            and len(segment.encode("utf-8", "surrogatepass")) <= 255)


def resolve_inside(root: Path, tail: str) -> Path:
    """The existing file or folder that ``tail`` (``"a/b.png"``, decoded, relative) names in ``root``.

    An empty ``tail`` (or one ending in ``/``) names the root or that folder itself.

    Raises:
        NotFound: a segment breaks the rules of the module docstring, the path does not
            exist, or it leads outside ``root``.
    """
    base = _resolved(root)
    parts = [p for p in tail.split("/") if p != ""] if tail else []
    if not all(segment_ok(p) for p in parts):
        raise NotFound("no such file")
    try:
        plain = _plain(base, parts)
        if plain is not None:
            return plain  # inside by construction: every part is a plain name, none a link
        found = base.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, a NUL
        raise NotFound("no such file") from None
    if found != base and not found.is_relative_to(base):
        raise NotFound("no such file")
    return found


def _resolved(root: Path) -> Path:
    """``root`` resolved on disk, once per root (roots come from the configuration, so they are few)."""
    found = _ROOTS.get(root)
    if found is None:
        if len(_ROOTS) >= _MAX_ROOTS:
            _ROOTS.clear()
        found = _ROOTS[root] = root.resolve()
    return found


def _plain(base: str | Path, parts: list[str]) -> Path | None:
    """``base/parts`` when every part exists and none is a symbolic link: then it is its own
    real path, found with one ``lstat`` a part instead of resolving from ``/``. ``None``
    when a part is a link (the caller resolves it).

    Raises:
        OSError: a part does not exist.
    """
    path = str(base)
    for part in parts:
        path = os.path.join(path, part)
        if stat.S_ISLNK(os.lstat(path).st_mode):
            return None
    return Path(path)
