"""The demo's project folder: its scripts, default configuration, pages and ``labdeck.toml``.

The scripts ship inside the package; :func:`write_demo_project` copies them into the
demo's data folder, so the demo is an ordinary labdeck project whose scripts live
inside it, as the config check requires.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

__all__ = ["DEMO_SCRIPTS", "write_demo_project"]

DEMO_SCRIPTS = ("init", "main", "finalize")

_TOML = """\
# The labdeck demo project (written by `labdeck demo`).
[scripts]
init = "scripts/init.py"
main = "scripts/main.py"
finalize = "scripts/finalize.py"

[run]
default_config = "scripts/run_config.toml"
grace_int = 3.0
grace_term = 2.0
upload_dirs = { data = "uploads" }
upload_max = 10485760
upload_patterns = ["*.csv", "*.txt", "*.json", "*.tsv"]

# The simulated scanners write here (see labdeck.demo.scanner).
[watch.scanner]
path = "../scanner"
kind = "dicom"
patterns = ["*.dcm"]
learn = false  # references are the ones pinned at start: the unknown sequence stays unknown

# Pages of the project's own, made of labdeck's web components (docs/howto/build-a-stimulus-page.md).
[pages.stimulus]
templates = "pages/stimulus"
values = { title = "Stimulus control" }

[pages.feedback]
folder = "pages/feedback"
"""


def write_demo_project(folder: Path, extra: str = "") -> Path:
    """Write the demo project into ``folder/project``; returns its ``labdeck.toml``.

    ``extra`` is appended to the TOML (the demo's ``[rigs.*]`` sections).
    """
    project = folder / "project"
    scripts = project / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    source = resources.files("labdeck.demo").joinpath("scripts")
    for name in (*(f"{s}.py" for s in DEMO_SCRIPTS), "run_config.toml"):
        with resources.as_file(source.joinpath(name)) as path:
            shutil.copyfile(path, scripts / name)
    pages = resources.files("labdeck.demo").joinpath("pages")
    for site in ("stimulus", "feedback"):
        (project / "pages" / site).mkdir(parents=True, exist_ok=True)
        with resources.as_file(pages.joinpath(site, "index.html")) as path:
            shutil.copyfile(path, project / "pages" / site / "index.html")
    toml = project / "labdeck.toml"
    toml.write_text(_TOML + extra, encoding="utf-8")
    return toml
