"""Run every process of a Procfile in the foreground and keep them running (`make run`).

What honcho did, minus what hurt:
- A process that exits is started again, after a pause that grows while it keeps dying
  quickly (1 s, 2 s, 4 s ... up to --max-backoff; back to 1 s once a run has lasted
  --stable seconds), with one line saying what happened. The others never stop for it.
- The environment is passed on as it is (plus SUPERVISE_PROCESS_NAME, and
  PYTHONUNBUFFERED=1 unless it is set, so lines come out as they are written). This
  script never reads `.env`:
  config/settings.py does, without overriding a variable the environment already has,
  so a key set in the environment wins in every process (honcho loaded `.env` over the
  environment for each child).
- Ctrl-C or SIGTERM stops them all: SIGTERM to each process (a Celery worker then
  finishes the tasks in hand; a shell command's whole group gets it), then to what is
  left of its group once it has exited, and SIGKILL to whatever is still there after
  --grace seconds (a second Ctrl-C kills at once).

Each command runs under `sh -c` (so ${VAR:-default} expands), exec'd when it is a single
command, in its own session: the process Procfile names is the group leader, and a
signal to the group reaches its children too (a Celery worker's pool). When the leader
dies, what is left of its group is killed before it starts again, so no orphaned pool
process keeps working beside the new one. This process is a child subreaper, so those
orphans are its to reap. Output is prefixed like honcho's (time, name, colour on a
terminal), with honcho's own printer.

    python scripts/supervise.py [-f Procfile] [--grace 10] [--backoff 1]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from honcho.colour import get_colours
from honcho.environ import parse_procfile
from honcho.printer import Message, Printer

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(option, value)


def _in_child() -> None:
    """Before exec: SIGTERM this process if the supervisor dies without stopping it."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def shell_command(command: str) -> str:
    """The command for `sh -c`: exec'd when it is one simple command, so the process the
    Procfile names is the one we watch and signal (dash would otherwise fork it)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    try:
        # An operator comes back as a token of its own, made of these characters only.
        compound = any(token and set(token) <= set(";&|()<>") for token in lexer)
    except ValueError:  # unbalanced quotes: let the shell say so
        compound = True
    return command if compound else f"exec {command}"


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit code {returncode}"


class Child:
    """One Procfile entry: its current process (if any) and its restart state."""

    def __init__(self, name: str, command: str, colour: str | None):
        self.name, self.command, self.colour = name, command, colour
        self.shell_command = shell_command(command)
        # Exec'd: the leader is the program itself, and it is the one to ask to stop.
        self.exec_form = self.shell_command.startswith("exec ")
        self.popen: subprocess.Popen | None = None
        self.started = 0.0  # monotonic time of the last start
        self.restarts = 0
        self.quick_exits = 0  # exits in a row that came before --stable seconds
        self.next_start: float | None = 0.0  # when to (re)start; None: running or stopped
        self.pgid: int | None = None  # the group of the last process, until it is empty

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.returncode is None


class Supervisor:
    def __init__(
        self,
        procfile: dict[str, str],
        *,
        printer: Printer,
        grace: float,
        backoff: float,
        max_backoff: float,
        stable: float,
        cwd: Path,
    ):
        colours = get_colours()
        self.children = [Child(name, cmd, next(colours)) for name, cmd in procfile.items()]
        self.printer = printer
        self.grace, self.backoff, self.max_backoff, self.stable = (
            grace,
            backoff,
            max_backoff,
            stable,
        )
        self.cwd = cwd
        self.lines: queue.Queue[Message] = queue.Queue()
        self.stop_requested = 0  # signals received; 2 or more: kill now
        self.first_stop = 0.0
        self.env = dict(os.environ)
        self.env.setdefault("PYTHONUNBUFFERED", "1")  # lines as they happen, not per 8 kB

    # --- output -----------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.lines.put(Message("line", text, datetime.datetime.now(), "system", None))

    def _pump(self, child: Child, stream) -> None:
        for line in iter(stream.readline, b""):
            self.lines.put(Message("line", line, datetime.datetime.now(), child.name, child.colour))
        stream.close()

    def flush(self, timeout: float) -> None:
        """Print what the children wrote, waiting up to `timeout` for the first line."""
        try:
            message = self.lines.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self.printer.write(message)
            try:
                message = self.lines.get_nowait()
            except queue.Empty:
                return

    # --- processes ----------------------------------------------------------------------

    def start(self, child: Child) -> None:
        env = dict(self.env, SUPERVISE_PROCESS_NAME=child.name)
        child.popen = subprocess.Popen(
            ["/bin/sh", "-c", child.shell_command],
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_in_child,
        )
        child.pgid = child.popen.pid
        child.started = time.monotonic()
        child.next_start = None
        threading.Thread(target=self._pump, args=(child, child.popen.stdout), daemon=True).start()
        if child.restarts:
            self.say(f"{child.name} restarted (pid {child.popen.pid}, restart {child.restarts})")
        else:
            self.say(f"{child.name} started (pid {child.popen.pid})")

    def signal_group(self, child: Child, sig: int) -> bool:
        """Send `sig` to the child's process group; False when the group is gone."""
        if child.pgid is None:
            return False
        try:
            os.killpg(child.pgid, sig)
        except ProcessLookupError:
            child.pgid = None
            return False
        except PermissionError:  # the group id was reused by someone else's process
            child.pgid = None
            return False
        return True

    def reap(self) -> None:
        """Collect every exited child: our leaders (their status is recorded on their
        Popen) and orphans of their groups (we are their subreaper)."""
        leaders = {c.popen.pid: c for c in self.children if c.running}
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = leaders.get(pid)
            if child is not None:
                child.popen.returncode = os.waitstatus_to_exitcode(status)
                self.exited(child)

    def exited(self, child: Child) -> None:
        code = child.popen.returncode
        ran = time.monotonic() - child.started
        # Whatever is left of its group (a Celery pool whose main process died) must not
        # work on beside the new one: SIGTERM now, SIGKILL when it starts again.
        self.signal_group(child, signal.SIGTERM)
        if self.stop_requested:
            self.say(f"{child.name} stopped ({describe_exit(code)})")
            return
        child.quick_exits = child.quick_exits + 1 if ran < self.stable else 0
        delay = min(self.backoff * 2 ** max(child.quick_exits - 1, 0), self.max_backoff)
        child.next_start = time.monotonic() + delay
        child.restarts += 1
        quick = f" (quick exit {child.quick_exits} in a row)" if child.quick_exits > 1 else ""
        self.say(
            f"{child.name} (pid {child.popen.pid}) exited: {describe_exit(code)} after "
            f"{ran:.1f} s{quick}; restarting in {delay:g} s (the others keep running)"
        )

    def restart_due(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.next_start is not None and now >= child.next_start:
                self.signal_group(child, signal.SIGKILL)  # leftovers of the last run
                try:
                    self.start(child)
                except OSError as exc:
                    child.quick_exits += 1
                    child.next_start = now + self.max_backoff
                    self.say(
                        f"{child.name} could not start ({exc}); retrying in {self.max_backoff:g} s"
                    )

    # --- the loop ----------------------------------------------------------------------

    def request_stop(self, signum: int, _frame) -> None:
        # One signal that reaches us twice at once (SIGTERM to make's process group: make
        # passes it on too) is one request; a second Ctrl-C a moment later kills.
        now = time.monotonic()
        if not self.stop_requested or now - self.first_stop > 0.5:
            self.stop_requested += 1
            self.first_stop = self.first_stop or now

    def run(self) -> int:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_stop)
        for child in self.children:
            self.start(child)
        while not self.stop_requested:
            self.flush(0.1)
            self.reap()
            self.restart_due()
        return self.shutdown()

    def shutdown(self) -> int:
        for child in self.children:
            child.next_start = None
        groups = [c for c in self.children if c.pgid is not None]
        self.say(
            f"stopping {', '.join(c.name for c in groups)} (SIGTERM; SIGKILL after "
            f"{self.grace:g} s, or at once on a second Ctrl-C)"
        )
        for child in groups:
            if child.running and child.exec_form:
                # The program alone: a Celery worker then stops warm (its pool finishes
                # the tasks in hand). When it exits, what is left of its group gets
                # SIGTERM (exited()); SIGKILL comes after the grace either way.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.popen.pid, signal.SIGTERM)
            else:
                self.signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        killed = False
        while True:
            self.flush(0.05)
            self.reap()
            alive = [c for c in self.children if c.pgid is not None and self.signal_group(c, 0)]
            if not alive:
                break
            if not killed and (time.monotonic() > deadline or self.stop_requested > 1):
                self.say(f"killing {', '.join(c.name for c in alive)} (SIGKILL)")
                for child in alive:
                    self.signal_group(child, signal.SIGKILL)
                killed, deadline = True, time.monotonic() + 3
            elif killed and time.monotonic() > deadline:
                break  # only unreapable zombies can be left: nothing more to do
        self.flush(0.2)
        self.say("all stopped")
        self.flush(0)
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--procfile", default="Procfile", type=Path)
    parser.add_argument("--grace", type=float, default=10, help="seconds from SIGTERM to SIGKILL")
    parser.add_argument("--backoff", type=float, default=1, help="first restart delay (s)")
    parser.add_argument("--max-backoff", type=float, default=30, help="longest restart delay (s)")
    parser.add_argument(
        "--stable", type=float, default=30, help="a run this long resets the delay (s)"
    )
    parser.add_argument("--no-colour", "--no-color", action="store_true")
    args = parser.parse_args(argv)
    try:
        processes = parse_procfile(args.procfile.read_text()).processes
    except OSError as exc:
        print(f"supervise: cannot read {args.procfile}: {exc.strerror}", file=sys.stderr)
        return 2
    if not processes:
        print(f"supervise: {args.procfile} names no process", file=sys.stderr)
        return 2
    printer = Printer(
        sys.stdout,
        width=max(len(name) for name in [*processes, "system"]),
        colour=not (args.no_colour or os.environ.get("NO_COLOR")),
    )
    supervisor = Supervisor(
        dict(processes),
        printer=printer,
        grace=args.grace,
        backoff=args.backoff,
        max_backoff=args.max_backoff,
        stable=args.stable,
        cwd=args.procfile.resolve().parent,
    )
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
