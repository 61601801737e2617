"""The process manager of `make run` (scripts/supervise.py), on small Procfiles of real
processes: what restarts, how fast, what Ctrl-C and SIGTERM stop, and that `.env` never
wins over the environment. tests/ops/test_make_run.py holds the same through `make run`.
"""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO, alive, kill_group, wait_until

SUPERVISE = REPO / "scripts" / "supervise.py"
PY = sys.executable


class Supervised:
    def __init__(self, popen: subprocess.Popen, log: Path):
        self.popen, self.log = popen, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, *, count: int = 1, timeout: float = 20) -> list[re.Match]:
        def found() -> list[re.Match]:
            matches = list(re.finditer(pattern, self.output(), re.MULTILINE))
            return matches if len(matches) >= count else []

        try:
            return wait_until(found, timeout=timeout, what=repr(pattern))
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n----- output\n{self.output()}") from None

    def pid_of(self, name: str) -> int:
        return int(self.wait_for(rf"\| {name} (?:started|restarted) \(pid (\d+)")[-1].group(1))

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20) -> int:
        self.popen.send_signal(sig)
        return self.popen.wait(timeout=timeout)


@pytest.fixture
def supervise(tmp_path) -> Iterator:
    started: list[Supervised] = []

    def start(procfile: str, *args: str, env: dict[str, str] | None = None) -> Supervised:
        (tmp_path / "Procfile").write_text(textwrap.dedent(procfile).lstrip())
        log = tmp_path / "supervise.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [PY, str(SUPERVISE), "-f", str(tmp_path / "Procfile"), *args],
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(Supervised(popen, log))
        return started[-1]

    yield start
    for s in started:
        if s.popen.poll() is None:
            kill_group(s.popen)
            s.popen.wait(timeout=10)


# A process that forks a child, as a Celery worker forks its pool: both say their pid.
FORKS = (
    f'{PY} -c "import os, sys, time; pid = os.fork(); '
    f"role = 'child' if pid == 0 else 'main'; "
    f"os.write(1, (role + ' ' + str(os.getpid()) + chr(10)).encode()); time.sleep(600)\""
)
# A process that ignores SIGTERM.
STUBBORN = (
    f'{PY} -c "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); '
    f"print('up', flush=True); time.sleep(600)\""
)


def test_a_process_that_exits_is_restarted_with_growing_pauses_while_the_others_run(
    supervise,
):
    s = supervise(
        """
        steady: sleep 600
        crasher: echo about to fail; exit 3
        """,
        "--backoff",
        "0.2",
        "--stable",
        "5",
    )
    steady = s.pid_of("steady")
    s.wait_for(r"crasher restarted \(pid \d+, restart 3\)")
    out = s.output()
    # Each quick exit doubles the pause; each is said in one line, with its exit code.
    delays = re.findall(r"crasher \(pid \d+\) exited: exit code 3 .*restarting in ([\d.]+) s", out)
    assert delays[:3] == ["0.2", "0.4", "0.8"], out
    assert "(quick exit 2 in a row)" in out
    assert re.search(r"^\d\d:\d\d:\d\d crasher +\| about to fail$", out, re.MULTILINE), out
    # The other process was never touched.
    assert alive(steady)
    assert "steady restarted" not in out and "steady stopped" not in out
    assert s.stop() == 0


def test_a_slow_crasher_is_retried_at_the_longest_pause(supervise):
    s = supervise("crasher: exit 1\n", "--backoff", "0.1", "--max-backoff", "0.3")
    s.wait_for(r"crasher restarted \(pid \d+, restart 5\)")
    delays = re.findall(r"restarting in ([\d.]+) s", s.output())
    assert delays[:5] == ["0.1", "0.2", "0.3", "0.3", "0.3"]
    assert s.stop() == 0


def test_kill_9_of_a_main_process_restarts_it_and_kills_what_is_left_of_its_group(supervise):
    s = supervise(f"pool: {FORKS}\nsteady: sleep 600\n", "--backoff", "0.5")
    main = int(s.wait_for(r"pool +\| main (\d+)")[0].group(1))
    child = int(s.wait_for(r"pool +\| child (\d+)")[0].group(1))
    steady = s.pid_of("steady")
    assert main == s.pid_of("pool")  # the Procfile's command is the process we watch

    os.kill(main, signal.SIGKILL)
    s.wait_for(rf"pool \(pid {main}\) exited: killed by SIGKILL after [\d.]+ s; restarting in")
    s.wait_for(r"pool restarted \(pid \d+, restart 1\)")
    # The orphaned "pool process" of the dead main process does not work on beside the
    # new one; the new pair runs; the other process never stopped.
    wait_until(lambda: not alive(child), timeout=10, what="the orphan to be killed")
    new_main, new_child = (
        int(m.group(1)) for m in s.wait_for(r"pool +\| (?:main|child) (\d+)", count=4)[2:]
    )
    assert alive(new_main) and alive(new_child)
    assert alive(steady) and "steady restarted" not in s.output()
    assert s.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_every_process_and_its_children(supervise, sig):
    s = supervise(f"pool: {FORKS}\nsteady: sleep 600\n")
    pids = [int(m.group(1)) for m in s.wait_for(r"pool +\| (?:main|child) (\d+)", count=2)]
    pids.append(s.pid_of("steady"))
    assert s.stop(sig) == 0
    assert not [pid for pid in pids if alive(pid)]
    out = s.output()
    assert "restarted" not in out  # stopping is not dying: nothing comes back
    assert out.rstrip().endswith("| all stopped")


# Like a Celery worker: the main process, told to stop (SIGTERM), lets its pool process
# finish the task in hand, then exits; the pool process must not be signalled itself.
WARM = """
import os, signal, sys, time

pid = os.fork()
if pid == 0:
    def interrupted(*_):
        os.write(1, b"pool process interrupted by SIGTERM\\n")
        os._exit(1)

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGUSR1, lambda *_: (os.write(1, b"task finished\\n"), os._exit(0)))
    os.write(1, b"task started\\n")
    while True:
        time.sleep(1)


def warm_shutdown(*_):
    os.write(1, b"main process: warm shutdown\\n")
    time.sleep(0.5)  # the task's last half second
    os.kill(pid, signal.SIGUSR1)
    os.waitpid(pid, 0)
    sys.exit(0)


signal.signal(signal.SIGTERM, warm_shutdown)
while True:
    time.sleep(1)
"""


def test_stopping_asks_the_program_not_its_pool(supervise, tmp_path):
    (tmp_path / "warm.py").write_text(WARM)
    s = supervise(f"warm: {PY} {tmp_path / 'warm.py'}\n")
    s.wait_for(r"warm +\| task started")
    assert s.stop(signal.SIGINT) == 0
    out = s.output()
    assert "main process: warm shutdown" in out and "task finished" in out, out
    assert "interrupted" not in out
    assert "warm stopped (exit code 0)" in out


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(supervise):
    s = supervise(f"stubborn: {STUBBORN}\n", "--grace", "1")
    pid = s.pid_of("stubborn")
    s.wait_for(r"stubborn +\| up")
    t = time.monotonic()
    assert s.stop(signal.SIGTERM) == 0
    assert time.monotonic() - t < 10
    assert "killing stubborn (SIGKILL)" in s.output()
    assert not alive(pid)


def test_a_second_ctrl_c_kills_at_once(supervise):
    s = supervise(f"stubborn: {STUBBORN}\n", "--grace", "60")
    pid = s.pid_of("stubborn")
    s.wait_for(r"stubborn +\| up")
    s.popen.send_signal(signal.SIGINT)
    s.wait_for(r"\| stopping stubborn")
    time.sleep(1)
    assert s.stop(signal.SIGINT, timeout=10) == 0
    assert "killing stubborn (SIGKILL)" in s.output()
    assert not alive(pid)


def test_the_processes_stop_when_the_process_manager_is_killed(supervise):
    s = supervise("steady: sleep 600\n")
    pid = s.pid_of("steady")
    s.popen.kill()  # SIGKILL: no chance to stop anything itself
    s.popen.wait(timeout=10)
    wait_until(lambda: not alive(pid), timeout=10, what="the orphaned process to stop")


def test_the_environment_reaches_every_process_and_dotenv_never_overrides_it(supervise, tmp_path):
    (tmp_path / ".env").write_text("A2P_PROBE=from-dotenv\nA2P_ONLY_IN_DOTENV=x\n")
    s = supervise(
        'probe: echo "probe=$A2P_PROBE only=${A2P_ONLY_IN_DOTENV:-unset}"; sleep 600\n',
        env={"A2P_PROBE": "from-environment"},
    )
    # .env is read by config/settings.py alone (never over the environment), not here.
    s.wait_for(r"probe +\| probe=from-environment only=unset$")
    assert s.stop() == 0


def test_an_unreadable_procfile_is_said_plainly(tmp_path):
    done = subprocess.run(
        [PY, str(SUPERVISE), "-f", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "cannot read" in done.stderr and "nope" in done.stderr
