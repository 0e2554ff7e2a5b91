"""What a lab gets from ``pip install``: the sdist carries the dashboard's built assets, a
wheel built from that sdist on a machine without npm has them too, and labdeck installed
from it into a fresh virtualenv, far from the source tree, serves a dashboard that plots.

The sdist is built from a copy of the working tree without its git history, as from a
source archive: that checks the version's fallback, and leaves the tree's own version
file alone while other tests run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.helpers import scaled

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]  # building and installing take minutes

ROOT = Path(__file__).resolve().parents[2]
UNSHIPPED = (".git", ".venv", "node_modules", "build", "dist", "*.egg-info", "test-artifacts", "__pycache__",
             ".*_cache", ".hypothesis", "labdeck-data")
ASSETS = ("labdeck/ui/static/vendor/uPlot.esm.js", "labdeck/ui/static/vendor/uPlot.min.css",
          "labdeck/ui/static/components/deck-components.js", "labdeck/pages/templates/layout.html",
          "labdeck/demo/pages/stimulus/index.html")


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=scaled(timeout))
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from the sdist, by a build that has no npm on its PATH."""
    out = tmp_path_factory.mktemp("dist")
    archive = out / "archive"
    shutil.copytree(ROOT, archive, ignore=shutil.ignore_patterns(*UNSHIPPED))
    (archive / "src" / "labdeck" / "_version.py").unlink(missing_ok=True)
    run(sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", out, ".", cwd=archive)
    (sdist,) = out.glob("labdeck-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        for asset in ASSETS:
            assert any(n.endswith(f"/src/{asset}") for n in names), f"the sdist lacks {asset}"
        tar.extractall(out / "unpacked", filter="data")
    (tree,) = (out / "unpacked").iterdir()
    bare = {"PATH": str(Path(sys.executable).parent), "HOME": str(out)}  # python, no npm, no git
    assert shutil.which("npm", path=bare["PATH"]) is None
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out / "wheels", tree, cwd=out,
        env=bare)
    (built,) = (out / "wheels").glob("labdeck-*.whl")
    with zipfile.ZipFile(built) as whl:
        for asset in ASSETS:
            assert whl.getinfo(asset).file_size > 0
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel and its dependencies installed from the index."""
    folder = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", folder, cwd=folder)
    run(folder / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel,
        cwd=folder, timeout=600)
    return folder


@pytest.fixture
def demo(venv: Path, tmp_path: Path) -> Iterator[str]:
    """``labdeck demo --no-browser`` from the installed wheel, run outside the source tree."""
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.Popen([venv / "bin" / "labdeck", "demo", "--no-browser", "--port", "0",
                             "--data", tmp_path / "data"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        url, seen = None, []
        for _ in range(500):
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if m := re.search(r"labdeck serving (http://\S+)", line):
                url = m[1]
                break
        assert url, "the installed labdeck demo did not start:\n" + "".join(seen[-30:])
        yield url
    finally:
        proc.terminate()
        proc.wait(scaled(15))
        if proc.stderr is not None:
            proc.stderr.close()


def test_the_installed_wheel_serves_a_dashboard_that_plots(browser: Browser, venv: Path, demo: str) -> None:
    outside = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(venv)}  # no PYTHONPATH to a source tree
    version = run(venv / "bin" / "labdeck", "--version", cwd=venv, env=outside).strip()
    assert version == "labdeck 0.1.0"  # no git history: the fallback version
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    try:
        page.goto(demo)
        expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "open")
        assert page.evaluate("fetch('healthz').then(r => r.json()).then(h => h.version)") == version.split()[1]
        page.evaluate("""async () => {
            const defaults = await labdeck.deck.call(["runner", "default_config"]);
            await labdeck.deck.call(["runner", "run"], ["main", {...defaults, tr: 0.02, trs: 10}]);
        }""")
        page.goto(demo + "#plots")
        chart = page.get_by_test_id("plots-grid").locator('[data-testid="plot-chart"][data-series="classifier"]')
        expect(chart).to_have_attribute("data-points", "10", timeout=scaled(30) * 1000)
        expect(chart.locator("canvas").first).to_be_visible()
    finally:
        context.close()
    assert not problems, f"the installed dashboard had problems: {problems}"
