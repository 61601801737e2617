"""Targets, the PASS/FAIL table and bench-results.json."""

from __future__ import annotations

import json
import operator
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from .procs import REPO

RESULTS_FILE = REPO / "bench-results.json"


@dataclass
class Target:
    name: str  # what the issue asks, in words
    key: str  # the figure in bench-results.json
    value: float | int | bool | None
    op: str  # "<=", ">=", "==" (bool/int equality)
    goal: float | int | bool
    unit: str = ""

    @property
    def passed(self) -> bool:
        if self.value is None:
            return False
        ops = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}
        return bool(ops[self.op](self.value, self.goal))

    def line(self) -> str:
        value = "n/a" if self.value is None else _short(self.value)
        verdict = "PASS" if self.passed else "FAIL"
        return f"  [{verdict}] {self.name}: {value}{self.unit} (target {self.op} {_short(self.goal)}{self.unit})"

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "value": self.value,
            "target": f"{self.op} {self.goal}",
            "passed": self.passed,
        }


def _short(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{value:,}"


@dataclass
class BenchResult:
    bench: str
    figures: dict = field(default_factory=dict)  # top-level keys of bench-results.json
    details: dict = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0
    loadavg_at_start: list[str] = field(default_factory=lambda: _loadavg())


def _loadavg() -> list[str]:
    try:
        return Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return []


def git_commit() -> str | None:
    """HEAD's commit, read from .git without running git."""
    git = REPO / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        return None
    return None


def machine() -> dict:
    info: dict = {"cores": os.cpu_count(), "python": platform.python_version()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gib"] = round(int(mem) / 1024 / 1024, 1)
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    return info


def save(results: list[BenchResult], *, meta: dict) -> Path:
    """Merge these results into bench-results.json (other benches' figures stay)."""
    data: dict = {}
    if RESULTS_FILE.exists():
        try:
            data = json.loads(RESULTS_FILE.read_text())
        except ValueError:
            data = {}
    data.setdefault("targets", {})
    data.setdefault("details", {})
    data.setdefault("runs", {})
    for result in results:
        data.update(result.figures)
        data["details"][result.bench] = result.details
        for target in result.targets:
            data["targets"][target.key] = {**target.as_dict(), "name": target.name}
        data["runs"][result.bench] = {
            **meta,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(result.started)),
            "seconds": round(result.seconds, 1),
            # Other people's work on this 2-core box shows here: figures are noisy.
            "loadavg_at_start": result.loadavg_at_start,
        }
    data["all_targets_passed"] = all(t["passed"] for t in data["targets"].values())
    RESULTS_FILE.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return RESULTS_FILE


def print_summary(results: list[BenchResult]) -> None:
    print("\n=== targets (issue acceptance, this machine) ===")
    for result in results:
        for target in result.targets:
            print(target.line())
