"""rt-cloud's experiment-script API on labdeck: ``ClientInterface()`` and its three parts.

A script written for rt-cloud's project server moves with one import changed::

    from labdeck.compat.rtcloud import ClientInterface   # was: from rtCommon.clientInterface import ...

    clientInterfaces = ClientInterface()
    webInterface = clientInterfaces.webInterface
    subjInterface = clientInterfaces.subjInterface
    dataInterface = clientInterfaces.dataInterface

Started by labdeck's runner, the calls reach the dashboard through ``labdeck.script``'s
link (see :mod:`.web`, :mod:`.subject`) and ``dataInterface`` may use the folders that
``[rtcloud]``, the ``[watch.<name>]`` tables and the run's folder allow (:mod:`.config`).
Run by hand, everything is printed and any local file may be used, as with rt-cloud's
local files mode. See ``docs/howto/migrate-rtcloud.md``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from labdeck.compat.rtcloud.bids import BidsIncremental, BidsInterface, MissingMetadataError
from labdeck.compat.rtcloud.config import DEFAULT_FILE_TYPES, RtcloudConfig, allowed_by_project
from labdeck.compat.rtcloud.data import DataInterface
from labdeck.compat.rtcloud.errors import InvocationError, RequestError, StateError, ValidationError
from labdeck.compat.rtcloud.subject import SubjectInterface
from labdeck.compat.rtcloud.web import WebDisplayInterface

__all__ = [
    "DEFAULT_FILE_TYPES",
    "BidsIncremental",
    "BidsInterface",
    "ClientInterface",
    "DataInterface",
    "InvocationError",
    "MissingMetadataError",
    "RequestError",
    "RtcloudConfig",
    "StateError",
    "SubjectInterface",
    "ValidationError",
    "WebDisplayInterface",
]


class ClientInterface:
    """The script's handle on the session: ``dataInterface``, ``bidsInterface``, ``subjInterface``,
    ``webInterface``.

    Args:
        rpyc_timeout, yesToPrompts: accepted for rt-cloud's signature; labdeck never
            prompts (run by hand, it uses local files at once).

    Raises:
        ValueError: started by labdeck, the project's ``[rtcloud]`` section is malformed.
    """

    def __init__(self, rpyc_timeout: float | None = None, yesToPrompts: bool = False) -> None:
        self.started_by_labdeck = bool(os.environ.get("LABDECK_RUN_URL"))
        if self.started_by_labdeck:
            allowed = allowed_by_project(Path.cwd(), os.environ.get("LABDECK_RUN_DIR"))
            dirs: list[str] = [str(d) for d in allowed.dirs or ()]
            types = list(allowed.file_types)
        else:
            print("ClientInterface: not started by labdeck, using local files", file=sys.stderr, flush=True)
            dirs, types = ["*"], ["*"]
        self.dataInterface = DataInterface(allowedDirs=dirs, allowedFileTypes=types)
        self.bidsInterface = BidsInterface(allowedDirs=dirs)
        self.subjInterface = SubjectInterface()
        self.webInterface = WebDisplayInterface()

    def isDataRemote(self) -> bool:
        """Whether files come from another machine: never, with labdeck."""
        return False

    def isSubjectRemote(self) -> bool:
        """Whether the participant's display runs elsewhere: it is a page of this server."""
        return False
