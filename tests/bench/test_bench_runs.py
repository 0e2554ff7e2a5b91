"""``labdeck bench`` as a user runs it: a real subprocess that starts real servers.

Nothing here asserts a timing: figures depend on the machine. These tests check that
the command runs to the end, prints every figure beside its baselines with a ratio,
writes the JSON it promises, and cleans up after itself.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import scaled

RATIO = re.compile(r"labdeck ÷ this\s+\d+\.\d+\N{MULTIPLICATION SIGN}")
CPU = re.compile(r"cpu\s+\d+\.\d+ µs/(req|msg)\s.*\(cpu \d+\.\d+\N{MULTIPLICATION SIGN}\)")


def run_bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labdeck", "bench", *args],
        capture_output=True, text=True, encoding="utf-8", timeout=scaled(timeout), check=False,
    )


def test_quick_rpc_prints_each_baseline_with_its_ratio(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = run_bench("--quick", "--only", "rpc", "--json", str(out))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.lstrip().startswith("labdeck pub") for line in lines), result.stdout
    for baseline in ("aiohttp echo", "tornado echo"):
        row = next(line for line in lines if line.lstrip().startswith(baseline))
        assert RATIO.search(row), row
        assert CPU.search(row), row  # the server's CPU per request, and labdeck's ratio to it
    aiohttp_row = next(line for line in lines if line.lstrip().startswith("aiohttp echo"))
    assert "target ≤ 1.15\N{MULTIPLICATION SIGN}" in aiohttp_row

    figures = json.loads(out.read_text(encoding="utf-8"))
    rpc = [f for f in figures["figures"] if f["bench"] == "rpc"]
    assert {f["server"] for f in rpc} == {"labdeck", "aiohttp", "tornado"}
    assert all(f["samples"] == 2000 and f["median"] > 0 and f["p99"] >= f["median"] for f in rpc)
    assert all(f["extra"]["cpu_us"] > 0 for f in rpc)
    assert {c["baseline"] for c in figures["comparisons"] if c["bench"] == "rpc"} == {"aiohttp", "tornado"}


def test_quick_broadcast_and_thread_publishes_check_every_message_and_report_cpu(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = run_bench("--quick", "--only", "broadcast", "--only", "publish-thread", "--json", str(out))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for n in (1, 10, 100):
        for bench in (f"broadcast-{n}:", f"broadcast-{n}-turn:"):
            start = next(i for i, line in enumerate(lines) if line.startswith(bench))
            rows = lines[start + 1 : start + 4]
            assert [r.split()[0] for r in rows] == ["labdeck", "aiohttp", "tornado"], rows
            assert all(CPU.search(r) for r in rows[1:]), rows
            assert all("target ≥" in r for r in rows[1:]), rows
    assert any(line.startswith("publish-thread: ") and "target ≥ 500k msg/s" in line for line in lines)
    figures = json.loads(out.read_text(encoding="utf-8"))["figures"]
    turn = [f for f in figures if f["bench"] == "broadcast-10-turn"]
    assert {f["extra"]["yield_every"] for f in turn} == {1}
    assert all(f["extra"]["lost"] == 0 and f["extra"]["cpu_us"] > 0 for f in turn)
    thread = {f["server"]: f for f in figures if f["bench"] == "publish-thread"}
    assert set(thread) == {"labdeck", "call_soon"} and all(f["median"] > 0 for f in thread.values())


def test_quick_memory_reports_each_server_and_the_design_bound() -> None:
    result = run_bench("--quick", "--only", "memory")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for section in ("memory-idle", "memory-100"):
        start = next(i for i, line in enumerate(lines) if line.startswith(section))
        rows = lines[start + 1:start + 4]
        assert [r.split()[0] for r in rows] == ["labdeck", "aiohttp", "tornado"], rows
        assert all(r.rstrip().endswith(("MB", "\N{MULTIPLICATION SIGN}")) for r in rows), rows
        assert all(RATIO.search(r) for r in rows[1:]), rows
    assert sum("target ≤ 100 MB" in line for line in lines) == 2, result.stdout


def test_unknown_benchmark_is_a_usage_error() -> None:
    result = run_bench("--only", "nonsense", timeout=30)

    assert result.returncode == 2
    assert "unknown benchmark 'nonsense'" in result.stderr
    assert "rpc, rpc-call, broadcast" in result.stderr
    assert "rigs" in result.stderr
    assert "Traceback" not in result.stderr


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid``, from ``/proc``."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _start_and_wait_for_servers() -> tuple[subprocess.Popen[str], set[int]]:
    """A full ``labdeck bench`` run, caught once its three servers are up."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "labdeck", "bench"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, encoding="utf-8",
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + scaled(30)
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line or line.startswith(("rpc:", "broadcast:")):
            break
    children = _children(proc.pid)
    if len(children) != 3:
        with proc:
            proc.kill()
        raise AssertionError(f"expected three server processes, found {children}")
    return proc, children


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return {p for p in pids if _alive(p)}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds server processes through /proc")
def test_ctrl_c_stops_every_server_process() -> None:
    proc, servers = _start_and_wait_for_servers()
    with proc:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(scaled(20)) == 130
        assert _wait_gone(servers, 10) == set()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds server processes through /proc")
def test_servers_exit_when_the_benchmark_is_killed() -> None:
    proc, servers = _start_and_wait_for_servers()
    with proc:
        proc.kill()  # no chance to clean up: the servers must notice on their own
    assert _wait_gone(servers, 10) == set()


def test_quick_watch_reports_labdeck_beside_raw_inotify_and_watchfiles() -> None:
    result = run_bench("--quick", "--only", "watch", timeout=240)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for section, rows in (("watch-file", ["labdeck", "raw", "watchfiles"]), ("watch-dicom", ["labdeck", "raw"])):
        start = next(i for i, line in enumerate(lines) if line.startswith(section))
        found = lines[start + 1:start + 1 + len(rows)]
        assert [r.split()[0] for r in found] == rows, found
        assert all(RATIO.search(r) for r in found[1:]), found
    assert any(line.startswith("watch-burst: 1,000 DICOM files") for line in lines), result.stdout
    assert sum("target ≤" in line and line.startswith("watch-") for line in lines) == 2, result.stdout


def test_quick_rigs_prints_round_trips_beside_the_echo_and_iblutil(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = run_bench("--quick", "--only", "rigs", "--json", str(out))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for baseline in ("bare UDP echo", "iblutil confirmed_send"):
        rows = [line for line in lines if line.lstrip().startswith(baseline)]
        assert len(rows) == 2 and all(RATIO.search(r) and "target ≤" in r for r in rows), result.stdout
    for section in ("rig-group-1", "rig-group-2", "rig-group-8", "rig-loss-5", "rig-loss-20"):
        assert any(line.startswith(section) for line in lines), result.stdout
    assert "rigs: 20 % loss: 100 of 100 delivered, each handled once" in lines

    figures = json.loads(out.read_text(encoding="utf-8"))["figures"]
    udp = {f["server"]: f for f in figures if f["bench"] == "rig-rtt-udp"}
    assert set(udp) == {"labdeck", "udp-echo", "iblutil"}
    assert all(f["samples"] == 500 and f["median"] > 0 for f in udp.values())


def test_quick_static_prints_labdeck_beside_tornado_with_login_on(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = run_bench("--quick", "--only", "static", "--json", str(out))

    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("tornado StaticFileHandler"))
    assert RATIO.search(row) and "target ≥ 1\N{MULTIPLICATION SIGN}" in row, row
    figures = json.loads(out.read_text(encoding="utf-8"))
    static = {f["server"]: f for f in figures["figures"] if f["bench"] == "static"}
    assert set(static) == {"labdeck", "tornado"}
    assert all(f["unit"] == "req/s" and f["rate"] > 0 and f["samples"] == 4000 for f in static.values())
