"""The processes a benchmark runs (uvicorn, Celery workers, beat), started as in the
Procfile and always stopped again: each runs in its own process group (session), the
whole group is signalled, and a pid file lets the next run end the groups a killed run
left behind (only groups whose leader is still one of ours)."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
if not (BIN / "celery").exists():  # running from another interpreter: use its scripts
    BIN = Path(sys.executable).parent


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    log_offset: int = 0  # where this run's output starts in the (appended) log
    started: float = field(default_factory=time.monotonic)

    @property
    def pgid(self) -> int:
        return self.popen.pid  # start_new_session: the leader's pid is the group id

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class ProcessManager:
    """Starts and stops the benchmark's child processes."""

    def __init__(self, *, log_dir: Path, env: dict[str, str]):
        self.log_dir = log_dir
        self.env = env
        self.procs: list[Proc] = []
        self.pid_file = log_dir / "pids"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._reap_leftovers()
        atexit.register(self.stop_all)

    # --- bookkeeping -------------------------------------------------------------------
    def _write_pids(self) -> None:
        live = [f"{p.pgid} {_start_time(p.pgid)} {p.name}" for p in self.procs if p.alive()]
        self.pid_file.write_text("\n".join(live) + ("\n" if live else ""))

    def _reap_leftovers(self) -> None:
        """Groups recorded by a previous run that was killed before it could clean up.
        Only a leader that still has the recorded start time (so the very process we
        started, not a reused pid) is ended."""
        if not self.pid_file.exists():
            return
        for line in self.pid_file.read_text().splitlines():
            try:
                pgid, started = (int(x) for x in line.split()[:2])
            except ValueError:
                continue
            if _start_time(pgid) == started:
                print(f"bench: ending leftover process group {pgid} ({line})", file=sys.stderr)
                self._signal_group(pgid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    @staticmethod
    def _signal_group(pgid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    # --- starting ----------------------------------------------------------------------
    def start(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> Proc:
        log = self.log_dir / f"{name}.log"
        env = {**self.env, **(extra_env or {})}
        offset = log.stat().st_size if log.exists() else 0
        with log.open("ab") as fh:
            fh.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(args)}\n".encode())
            popen = subprocess.Popen(
                args,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name=name, popen=popen, log=log, log_offset=offset)
        self.procs.append(proc)
        self._write_pids()
        return proc

    # --- readiness ---------------------------------------------------------------------
    def wait_for_log(self, proc: Proc, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
            try:
                with proc.log.open("rb") as fh:
                    fh.seek(proc.log_offset)
                    if needle.encode() in fh.read():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{proc.name} not ready after {timeout:.0f} s:\n{proc.log_tail()}")

    def wait_for_port(self, proc: Proc, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
            if port_in_use(port):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{proc.name} not listening after {timeout:.0f} s:\n{proc.log_tail()}")

    def check_alive(self) -> None:
        for proc in self.procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} died during the benchmark:\n{proc.log_tail()}")

    # --- CPU accounting ----------------------------------------------------------------
    def cpu_seconds(self) -> float:
        """User+system CPU seconds of every live process in our groups (children that
        exited are counted in their parent's cumulative times)."""
        groups = {p.pgid for p in self.procs if p.alive()}
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            # fields[2] = pgrp, [11] utime, [12] stime, [13] cutime, [14] cstime
            if int(fields[2]) in groups:
                total += sum(int(fields[i]) for i in (11, 12, 13, 14))
        return total / tick

    # --- stopping ----------------------------------------------------------------------
    def stop(self, procs: list[Proc] | None = None, *, grace: float = 20) -> None:
        """SIGTERM each leader (Celery: warm shutdown, it stops its own pool), SIGKILL the
        group if the leader is still there after `grace`, then SIGKILL any member we saw
        in the group that outlived its leader (matched by pid and start time, so never a
        process that merely reused the pid)."""
        targets = list(procs if procs is not None else self.procs)
        members = {p.pgid: _group_members(p.pgid) for p in targets}
        for proc in targets:
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in targets:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in targets:
            if proc.alive():  # not reaped yet, so the group id is still ours
                self._signal_group(proc.pgid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.popen.wait(timeout=5)
            for pid, started in members[proc.pgid].items():
                if pid != proc.pgid and _start_time(pid) == started:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
        self.procs = [p for p in self.procs if p not in targets]
        self._write_pids()

    def stop_all(self) -> None:
        if self.procs:
            self.stop(grace=10)


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def _group_members(pgid: int) -> dict[int, int | None]:
    """{pid: start time} of the processes in process group `pgid` now."""
    members = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid:
                members[int(entry.name)] = int(fields[19])
    return members


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP end the run like Ctrl-C does, so `finally` and atexit stop the
    children."""

    def _raise(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _raise)
    signal.signal(signal.SIGHUP, _raise)
