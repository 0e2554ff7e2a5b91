"""Files as they land: watched folders, and the DICOM protocol check per scanner station.

* :mod:`~labdeck.watch.inotify` and :mod:`~labdeck.watch.fallback`: the OS seams;
* :mod:`~labdeck.watch.folder`, :mod:`~labdeck.watch.watcher`: what counts as a
  landed file, and a watcher that is restarted when it fails;
* :mod:`~labdeck.watch.dicom`: headers, stations, reference protocols;
* :mod:`~labdeck.watch.capability`: all of it on the capability seam.
"""

from __future__ import annotations

from labdeck.watch.config import WatchConfig

__all__ = ["WatchConfig"]
