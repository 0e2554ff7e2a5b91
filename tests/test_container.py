"""The container image builds, starts as a non-root user and reports healthy, where a
container engine is available (none answers on machines without a daemon: then skipped)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import scaled

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(1800)


def engine() -> str | None:
    for name in ("docker", "podman"):
        path = shutil.which(name)
        if path and subprocess.run([path, "info"], capture_output=True, timeout=30).returncode == 0:
            return path
    return None


def test_the_image_builds_runs_unprivileged_and_turns_healthy() -> None:
    tool = engine()
    if tool is None:
        pytest.skip("no container engine answers on this machine")
    tag = "labdeck-test:latest"
    subprocess.run([tool, "build", "-t", tag, str(ROOT)], check=True, timeout=scaled(1500))
    name = f"labdeck-test-{int(time.time())}"
    subprocess.run([tool, "run", "-d", "--name", name, tag], check=True, capture_output=True)
    try:
        user = subprocess.run([tool, "exec", name, "id", "-u"], capture_output=True, text=True).stdout.strip()
        assert user not in ("", "0")
        deadline = time.monotonic() + scaled(120)
        status = ""
        while time.monotonic() < deadline and status != "healthy":
            time.sleep(2)
            state = json.loads(subprocess.run([tool, "inspect", name], capture_output=True, text=True).stdout)
            status = state[0]["State"].get("Health", {}).get("Status", "")
        assert status == "healthy"
    finally:
        subprocess.run([tool, "rm", "-f", name], capture_output=True)
