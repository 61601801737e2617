"""Starting the product's processes for a benchmark exactly as the Procfile runs them.

The commands are read from the Procfile, so the bench follows it when processes are
added or changed. Only what must differ is changed: ${WEB_PORT} is the bench's port,
Celery node names get an instance suffix (several instances of one entry), beat's
schedule file lives in the log directory, and `-c` is replaced where a BENCH_*
concurrency knob is set.
"""

from __future__ import annotations

import os
import re
import shlex
import time

from .config import BenchConfig
from .procs import REPO, Proc, ProcessManager, port_in_use

_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def procfile() -> dict[str, str]:
    entries = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if ":" in line and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def command(
    entry: str, *, instance: int | None = None, concurrency: int | None = None, log_dir=None
) -> list[str]:
    """The Procfile's command for `entry`, expanded with the bench's environment."""
    raw = procfile()[entry]

    def expand(match: re.Match) -> str:
        name = match.group(1) or match.group(3)
        return os.environ.get(name) or (match.group(2) or "")

    args = shlex.split(_VAR.sub(expand, raw))
    if args and not os.path.isabs(args[0]):
        args[0] = str(REPO / args[0])
    for i, arg in enumerate(args[:-1]):
        if arg == "-n" and instance is not None:
            node, _, host = args[i + 1].partition("@")
            args[i + 1] = f"{node}-{instance}@{host}" if host else f"{node}-{instance}"
        if arg == "-c" and concurrency is not None:
            args[i + 1] = str(concurrency)
        if arg == "--schedule" and log_dir is not None:
            args[i + 1] = str(log_dir / "celerybeat-schedule")
    return args


def dispatch_entry() -> str:
    """The Procfile entry that runs the dispatcher (its own queue since the rewrite)."""
    return "dispatcher" if "dispatcher" in procfile() else "worker"


def start(
    cfg: BenchConfig,
    manager: ProcessManager,
    *,
    dispatchers: bool = True,
    default_worker: bool = True,
    beat: bool = True,
    web: bool = False,
    simulator: bool = False,
) -> list[Proc]:
    """Start the chosen Procfile entries (the dispatcher entry `cfg.workers` times) and
    wait until each is ready; beat last, so its first kicks find the workers ready."""
    plan: list[tuple[str, str, int | None, int | None]] = []  # (name, entry, instance, -c)
    if web:
        plan.append(("web", "web", None, None))
    d_entry = dispatch_entry()
    if default_worker and (d_entry != "worker" or not dispatchers):
        plan.append(("worker", "worker", None, None))
    if dispatchers:
        for i in range(cfg.workers):
            plan.append((f"{d_entry}-{i + 1}", d_entry, i + 1, cfg.worker_concurrency))
    if simulator:
        plan.append(("simulator", "simulator", None, cfg.simulator_concurrency))
    if web and port_in_use(cfg.port):
        raise RuntimeError(f"port {cfg.port} is already in use; set BENCH_PORT to a free port")
    procs: list[Proc] = []
    t = time.monotonic()
    for name, entry, instance, concurrency in plan:
        procs.append(
            manager.start(name, command(entry, instance=instance, concurrency=concurrency))
        )
    for proc in procs:
        if proc.name == "web":
            manager.wait_for_port(proc, cfg.port)
        else:
            manager.wait_for_log(proc, " ready.")
    if beat:
        procs.append(manager.start("beat", command("beat", log_dir=manager.log_dir)))
        manager.wait_for_log(procs[-1], "beat: Starting")
    print(
        f"  started {', '.join(p.name for p in procs)} in {time.monotonic() - t:.1f} s "
        f"(logs: {manager.log_dir})",
        flush=True,
    )
    return procs


def stop(manager: ProcessManager, procs: list[Proc]) -> None:
    """Beat first (no new kicks), then the rest: warm shutdown, but a drain loop that is
    still busy after a few seconds is killed (the measurement is over)."""
    manager.stop([p for p in procs if p.name == "beat"], grace=5)
    manager.stop([p for p in procs if p.name != "beat"], grace=8)


class CpuMeter:
    """CPU used between two marks, in cores: by our child processes (workers, beat, web)
    and by the whole machine (PostgreSQL, Redis, the bench itself and anyone else)."""

    def __init__(self, manager: ProcessManager):
        self.manager = manager
        self._start: tuple[float, float, tuple[int, int]] | None = None
        self.children_cores: float | None = None
        self.machine_cores: float | None = None

    def mark_start(self) -> None:
        self._start = (self.manager.cpu_seconds(), time.time(), _proc_stat())

    def mark_end(self) -> None:
        if self._start is None:
            return
        cpu0, wall0, (busy0, total0) = self._start
        wall = max(1e-6, time.time() - wall0)
        self.children_cores = round((self.manager.cpu_seconds() - cpu0) / wall, 2)
        busy1, total1 = _proc_stat()
        cores = os.cpu_count() or 1
        self.machine_cores = round((busy1 - busy0) / max(1, total1 - total0) * cores, 2)


def _proc_stat() -> tuple[int, int]:
    """(busy, total) jiffies summed over all CPUs, from /proc/stat."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)
