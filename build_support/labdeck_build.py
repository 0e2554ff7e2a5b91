"""labdeck's build backend: setuptools, with the dashboard's assets built first.

The dashboard's third-party browser code (uPlot) comes from the npm registry through
``ui/package-lock.json`` and is never committed. A wheel without it has a dashboard whose
plots are broken, so building a wheel or an sdist makes sure the assets are there:

* present (an sdist carries them, or ``npm --prefix ui run build`` ran): nothing to do;
* absent, with npm on PATH: ``npm ci`` and ``npm run build`` in ``ui/``;
* absent, without npm: the build fails, saying how to get them.

Editable installs (``pip install -e .``) are left alone: ``./dev.sh setup`` builds the
assets after installing, on a machine that may not have Node.js yet.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (the rest of the PEP 517 interface, unchanged)

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "src" / "labdeck" / "ui" / "static" / "vendor"
ASSETS = ("uPlot.esm.js", "uPlot.min.css")


def _missing() -> list[str]:
    return [name for name in ASSETS if not (VENDOR / name).is_file() or (VENDOR / name).stat().st_size == 0]


def ensure_assets() -> None:
    """Build the dashboard's assets when they are missing; fail clearly when that cannot be done."""
    if not _missing():
        return
    npm = shutil.which("npm")
    if npm is None or not (ROOT / "ui" / "package-lock.json").is_file():
        raise SystemExit(
            "labdeck build: the dashboard's assets are missing (src/labdeck/ui/static/vendor/"
            f"{', '.join(_missing())}) and npm is not available to build them. Install Node.js and npm, "
            "or build from an sdist, which carries them."
        )
    for args in (["ci", "--no-audit", "--no-fund", "--loglevel=error"], ["run", "build"]):
        subprocess.run([npm, "--prefix", str(ROOT / "ui"), *args], check=True)
    if _missing():
        raise SystemExit(f"labdeck build: npm ran but {', '.join(_missing())} are still missing")


def build_wheel(wheel_directory: str, config_settings: dict[str, Any] | None = None,
                metadata_directory: str | None = None) -> str:
    ensure_assets()
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    ensure_assets()
    return _setuptools.build_sdist(sdist_directory, config_settings)
