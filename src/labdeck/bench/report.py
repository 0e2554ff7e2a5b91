"""Figures, their ratios against the baselines, the design's targets, and how they print.

Ratios are always *labdeck ÷ baseline*, of medians: below 1 is faster for a round trip,
above 1 is faster for a throughput. A target is met or missed on the median ratio;
misses are reported, never turned into a failing exit code (a loaded machine moves
figures; a lost message is a failure, a slow run is not).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "TARGETS",
    "TIMES",
    "Comparison",
    "Figure",
    "Report",
    "Target",
    "environment",
    "environment_line",
    "median",
    "percentile",
]

TIMES = "\N{MULTIPLICATION SIGN}"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; ``values`` need not be sorted."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass(frozen=True)
class Target:
    """``labdeck ÷ baseline`` must be ``op`` ``ratio`` (``"<="`` for times, ``">="`` for rates)."""

    op: Literal["<=", ">="]
    ratio: float

    def met(self, ratio: float) -> bool:
        return ratio <= self.ratio if self.op == "<=" else ratio >= self.ratio

    def __str__(self) -> str:
        return f"target {'≤' if self.op == '<=' else '≥'} {self.ratio:g}{TIMES}"


TARGETS: dict[tuple[str, str], Target] = {
    ("rpc", "aiohttp"): Target("<=", 1.15),
    ("rpc-call", "aiohttp"): Target("<=", 1.8),
    ("rpc-call-inline", "aiohttp"): Target("<=", 1.3),
    ("rpc-call-inline", "tornado"): Target("<=", 0.75),
    **{(f"broadcast-{n}{turn}", base): Target(">=", ratio)
       for n in (1, 10, 100) for turn in ("", "-turn") for base, ratio in (("aiohttp", 1.0), ("tornado", 3.0))},
    ("memory-1000", "aiohttp"): Target("<=", 1.1),
    ("rig-rtt-udp", "udp-echo"): Target("<=", 1.3),
    ("rig-rtt-udp", "iblutil"): Target("<=", 0.7),
    ("rig-rtt-tcp", "udp-echo"): Target("<=", 1.3),
    ("rig-rtt-tcp", "iblutil"): Target("<=", 0.7),
    ("static", "tornado"): Target(">=", 1.0),
    ("plots-plots", "idle page"): Target(">=", 0.95),
    ("plots-overview", "idle page"): Target(">=", 0.95),
}
"""From the design's performance targets, keyed by (benchmark, baseline)."""


@dataclass
class Figure:
    """One server's result in one benchmark.

    For a round trip: ``median`` and ``p99`` in microseconds, ``rate`` in requests per
    second. For a broadcast: ``median`` and ``best`` delivered messages per second over
    the rounds (``p99`` is ``None``), ``rate`` the same as ``median``.
    """

    bench: str
    server: str
    label: str
    unit: Literal["µs", "msg/s", "req/s", "MB", "fps"]
    median: float
    p99: float | None
    rate: float
    samples: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Comparison:
    """labdeck's figure beside one baseline's."""

    bench: str
    baseline: str
    ratio: float
    p99_ratio: float | None
    target: Target | None
    cpu_ratio: float | None = None
    """labdeck's server CPU per message ÷ the baseline's: below 1 is cheaper, whatever the figure."""

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.ratio)


@dataclass
class Report:
    """Every figure of one run, with the notes printed along the way."""

    quick: bool
    sections: list[tuple[str, list[Figure]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, title: str, figures: list[Figure]) -> None:
        self.sections.append((title, figures))

    def comparisons(self, figures: list[Figure]) -> list[Comparison]:
        """labdeck against each baseline in one benchmark's figures."""
        ours = next((f for f in figures if f.server == "labdeck"), None)
        if ours is None:
            return []
        out = []
        for base in figures:
            if base.server == "labdeck":
                continue
            p99 = ours.p99 / base.p99 if ours.p99 is not None and base.p99 else None
            mine, theirs = ours.extra.get("cpu_us"), base.extra.get("cpu_us")
            cpu = mine / theirs if mine is not None and theirs else None
            out.append(Comparison(ours.bench, base.server, ours.median / base.median, p99,
                                  TARGETS.get((ours.bench, base.server)), cpu))
        return out

    # -- text -----------------------------------------------------------------------

    def render(self) -> str:
        """The table printed at the end of a run."""
        lines = [environment_line(), ""]
        for title, figures in self.sections:
            lines.append(title)
            lines.extend(_rows(figures, {c.baseline: c for c in self.comparisons(figures)}))
            lines.append("")
        missed = [c for _, figs in self.sections for c in self.comparisons(figs) if c.met is False]
        lines.extend(self.notes)
        if missed:
            listed = ", ".join(f"{c.bench} vs {c.baseline} ({c.ratio:.2f}{TIMES})" for c in missed)
            lines.append(f"targets missed: {listed}")
        elif any(c.target for _, figs in self.sections for c in self.comparisons(figs)):
            lines.append("every target shown was met")
        return "\n".join(lines)

    # -- JSON -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        figures = [f for _, figs in self.sections for f in figs]
        comparisons = [c for _, figs in self.sections for c in self.comparisons(figs)]
        return {
            "format": 1,
            "quick": self.quick,
            "environment": environment(),
            "figures": [asdict(f) for f in figures],
            "comparisons": [
                {"bench": c.bench, "baseline": c.baseline, "ratio": c.ratio, "p99_ratio": c.p99_ratio,
                 "cpu_ratio": c.cpu_ratio, "target": str(c.target) if c.target else None, "met": c.met}
                for c in comparisons
            ],
            "notes": self.notes,
        }

    def write_json(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


def _rows(figures: list[Figure], comparisons: dict[str, Comparison]) -> list[str]:
    rows = []
    for f in figures:
        if f.unit == "µs":
            p99 = f"{f.p99:8.1f} µs" if f.p99 is not None else ""
            cells = f"  {f.label:<26} {f.median:8.1f} µs {p99}  {_si(f.rate):>7} req/s"
        elif f.unit == "MB":
            cells = f"  {f.label:<26} {f.median:8.1f} MB"
        else:
            cells = f"  {f.label:<26} {_si(f.median):>7} {f.unit}  (best {_si(f.extra.get('best', f.median))})"
        cpu = f.extra.get("cpu_us")
        if cpu is not None:
            cells += f"  cpu {cpu:6.2f} µs/{'req' if f.unit == 'µs' else 'msg'}"
        c = comparisons.get(f.server)
        if c is not None:
            cells += f"   labdeck ÷ this {c.ratio:5.2f}{TIMES}"
            if c.p99_ratio is not None:
                cells += f" (p99 {c.p99_ratio:.2f}{TIMES})"
            if c.cpu_ratio is not None:
                cells += f" (cpu {c.cpu_ratio:.2f}{TIMES})"
            if c.target is not None:
                cells += f"   {c.target}  {'met' if c.met else 'MISSED'}"
        rows.append(cells)
    return rows


def _si(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def environment() -> dict[str, Any]:
    """What the figures depend on: interpreter, libraries, cores."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    for dist in ("labdeck", "aiohttp", "uvloop", "tornado", "msgspec"):
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[dist] = None
    return env


def environment_line() -> str:
    env = environment()
    libs = ", ".join(f"{k} {env[k]}" for k in ("labdeck", "aiohttp", "uvloop", "tornado", "msgspec") if env[k])
    return f"labdeck bench: {env['cpus']} cores, {env['implementation']} {env['python']}, {libs}"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))
