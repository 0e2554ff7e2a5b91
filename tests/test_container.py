"""The container image builds, starts as a non-root user, reports healthy through its own
HEALTHCHECK, serves the dashboard on the published port and keeps its data in the volume.

Runs where a container engine (docker or podman) answers and the Dockerfile's base images can
be had (pulled, or already present); skipped otherwise, saying which of the two is missing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port, scaled

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(1800)


def engine() -> str | None:
    for name in ("docker", "podman"):
        path = shutil.which(name)
        if path and subprocess.run([path, "info"], capture_output=True, timeout=30).returncode == 0:
            return path
    return None


def base_images() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    return re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)


def available(tool: str, image: str) -> bool:
    present = subprocess.run([tool, "image", "inspect", image], capture_output=True, timeout=60)
    if present.returncode == 0:
        return True
    return subprocess.run([tool, "pull", image], capture_output=True, timeout=scaled(600)).returncode == 0


def run(tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=timeout)


def healthy(tool: str, name: str) -> bool:
    """What the engine says of the image's HEALTHCHECK. Podman without systemd runs no timer for
    it, so there the check is run on demand (`podman healthcheck run` runs the image's command)."""
    if Path(tool).name == "podman":
        return run(tool, "healthcheck", "run", name).returncode == 0
    state = json.loads(run(tool, "inspect", name).stdout)[0]["State"]
    return bool(state.get("Health", {}).get("Status") == "healthy")


def wait_healthy(tool: str, name: str) -> None:
    deadline = time.monotonic() + scaled(120)
    while not healthy(tool, name):
        assert time.monotonic() < deadline, run(tool, "logs", name).stdout + run(tool, "logs", name).stderr
        time.sleep(2)


def test_the_image_builds_runs_unprivileged_and_turns_healthy(tmp_path: Path) -> None:
    tool = engine()
    if tool is None:
        pytest.skip("no container engine answers on this machine")
    missing = [image for image in base_images() if not available(tool, image)]
    if missing:
        pytest.skip(f"base images cannot be pulled here: {', '.join(missing)}")
    tag = "labdeck-test:latest"
    # Docker's image format: the OCI format has no HEALTHCHECK, and podman drops it there.
    fmt = ["--format", "docker"] if Path(tool).name == "podman" else []
    built = run(tool, "build", *fmt, "-t", tag, str(ROOT), timeout=scaled(1500))
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]

    name = f"labdeck-test-{int(time.time())}"
    volume = f"{name}-data"
    port = free_port()
    started = run(tool, "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8888", "-v", f"{volume}:/data", tag)
    assert started.returncode == 0, started.stderr
    try:
        assert run(tool, "exec", name, "id", "-u").stdout.strip() not in ("", "0")
        wait_healthy(tool, name)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:
            health = json.load(reply)
        assert health["status"] == "ok"
        assert health["version"]
        # Listening on every address inside the container, so login is on: the dashboard asks for it.
        page = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Accept": "text/html"})
        with urllib.request.urlopen(page, timeout=10) as reply:
            assert reply.url.endswith("/login?next=/")
            assert b"<form" in reply.read()

        # The first admin, added as the image's comment says, lives in the volume...
        added = subprocess.run(
            [tool, "exec", "-i", name, "labdeck", "user", "add", "alice", "--role", "admin", "--password-stdin"],
            input="correct horse battery staple\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert added.returncode == 0, added.stdout + added.stderr
        # ...so it is still there in a new container on the same volume.
        assert run(tool, "rm", "-f", name).returncode == 0
        again = run(tool, "run", "-d", "--name", name, "-v", f"{volume}:/data", tag)
        assert again.returncode == 0, again.stderr
        wait_healthy(tool, name)
        users = run(tool, "exec", name, "labdeck", "user", "list")
        assert "alice" in users.stdout, users.stdout + users.stderr
    finally:
        run(tool, "rm", "-f", name)
        run(tool, "volume", "rm", "-f", volume)


def test_the_compose_files_labdeck_services_are_configured_as_labdeck_reads_it() -> None:
    """Without an engine to run it, what deploy/compose.yaml hands each labdeck process
    still loads: every LABDECK_ variable is one labdeck reads, Redis and PostgreSQL both."""
    import yaml

    from labdeck.config import load_config

    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    servers = {name: s for name, s in compose["services"].items() if s.get("build")}
    assert len(servers) >= 2
    for name, service in servers.items():
        env = {k: str(v).replace("${LABDECK_DB_PASSWORD}", "secret") for k, v in service["environment"].items()}
        assert set(env) == {"LABDECK_BROKER_URL", "LABDECK_STORE_URL"}, name
        config = load_config(None, env={**env, "LABDECK_CONFIG": str(ROOT / "deploy" / "labdeck.toml")})
        assert config.broker.url == "redis://redis:6379/0"
        assert config.store.url == "postgresql://labdeck:secret@postgres:5432/labdeck"
        assert set(service["depends_on"]) == {"redis", "postgres"}
    assert "postgres" in compose["services"] and "redis" in compose["services"]
