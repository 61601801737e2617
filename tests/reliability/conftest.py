"""Process fixtures for the reliability suite: real Celery workers and beat as
subprocesses, a private redis-server we may kill -9 and restart, and the pytest test
database (committed data: the tests are transactional) shared with them.

Nothing of ours is faked. The only stand-in is the messaging network, which is the
carrier simulator, as everywhere else.

Every process is started in its own session (its own process group), so a kill takes the
Celery main process and its pool children together, and teardown SIGKILLs every group
it started, whatever the test did. The shared Redis on 6379 is never touched by the
subprocesses: they get the private server's URL.
"""

import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

# Celery tasks inline in this process (the receipts test replays webhooks in-process).
from tests.providers.conftest import celery_eager  # noqa: F401
from tests.servers import free_port, wait_until  # noqa: F401 (the suite's helpers)

BASE_DIR = Path(django_settings.BASE_DIR)

# The dispatcher's lease (settings.DISPATCH_LEASE_SECONDS, from the environment),
# shortened so a killed worker's rows come back in seconds rather than a minute. The
# waits follow the leases actually written, so a longer one only makes the tests slower.
LEASE_SECONDS = 3
LATENCY_MS = 20  # the simulator's API round trip

# Variables of the test process that must not leak into the workers.
_SCRUB = ("PYTEST_", "CELERY_TASK_ALWAYS_EAGER", "DJANGO_LIVE_TEST_SERVER")


def wait_for_count(
    count: Callable[[], int], target: int, *, what: str, stall: float = 30, every: float = 0.1
) -> int:
    """Wait until count() >= target, for as long as it keeps growing: fail only when it
    has not moved for `stall` seconds (a busy machine is slow, not broken)."""
    last, moved = count(), time.monotonic()
    while last < target:
        time.sleep(every)
        now = count()
        if now != last:
            last, moved = now, time.monotonic()
        elif time.monotonic() - moved > stall:
            raise AssertionError(f"{what}: stuck at {last} of {target} for {stall:g} s")
    return last


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if pytest itself dies without a teardown."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Proc:
    """One subprocess in its own process group, its output in a log file."""

    def __init__(
        self, name: str, argv: list[str], *, env: dict[str, str], log: Path, ready: str = ""
    ):
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.ready_marker = ready  # the log line that says it is up
        self.popen: subprocess.Popen | None = None

    def start(self) -> "Proc":
        with self.log.open("ab") as out:
            out.write(f"\n===== start {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.argv,
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches the pool too
                preexec_fn=_die_with_parent,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def kill9(self) -> None:
        """kill -9 the whole group (the Celery main process and its pool children)."""
        if self.popen is None:
            return
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL is not ignorable
            self.popen.wait(timeout=10)
        # Pool children are reaped by init once their parent is gone; wait until the
        # group is empty so nothing of it still holds a database connection.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.popen.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(text[-lines:])


class RedisServer:
    """A private redis-server (no persistence) on a free port: ours to kill and restart."""

    def __init__(self, procs: "Processes"):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = procs.add(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
        )

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)

    def start(self) -> None:
        self.proc.start()

        def pong() -> bool:
            try:
                return bool(self.client().ping())
            except redis.RedisError:
                return False

        wait_until(pong, timeout=10, what=f"redis-server on port {self.port}")

    def kill9(self) -> None:
        self.proc.kill9()

    def run_id(self) -> str:
        return self.client().info("server")["run_id"]


class Processes:
    """Every process a test starts; all of them are SIGKILLed at teardown."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: list[Proc] = []
        self.env: dict[str, str] = {}

    def add(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, ready: str = ""
    ) -> Proc:
        proc = Proc(
            name, argv, env=env or dict(os.environ), log=self.tmp / f"{name}.log", ready=ready
        )
        self.procs.append(proc)
        return proc

    def worker(self, name: str, *, queues: str = "dispatch,default", concurrency: int = 2) -> Proc:
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-n",
            f"{name}@%h",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
        ]
        return self.add(name, argv, self.env, ready=" ready.")

    def web(self) -> tuple[Proc, str]:
        """The web server (uvicorn, HTTP and WebSockets) on a free port, as the Procfile
        runs it: the process and its base URL."""
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-server-header",
        ]
        return self.add(
            "web", argv, self.env, ready="Uvicorn running on"
        ), f"http://127.0.0.1:{port}"

    def procfile(self, name: str) -> Proc:
        """The Procfile's own command line for process `name` (the flags production
        runs with, gossip and mingle included), with this interpreter and a node name
        of its own."""
        for line in (BASE_DIR / "Procfile").read_text().splitlines():
            key, _, command = line.partition(":")
            if key.strip() == name:
                break
        else:
            raise AssertionError(f"no {name!r} in the Procfile")
        argv = shlex.split(command.replace("${WEB_PORT:-8000}", f"rel{os.getpid()}"))
        assert argv[0].endswith("/celery"), argv
        return self.add(
            name, [sys.executable, "-m", "celery", *argv[1:]], self.env, ready=" ready."
        )

    def beat(self) -> Proc:
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--schedule",
            str(self.tmp / "beat-schedule"),
            "--loglevel",
            "INFO",
        ]
        return self.add("beat", argv, self.env, ready="beat: Starting")

    def start(self, *procs: Proc, wait: bool = True) -> list[Proc]:
        """Start them all at once, then (unless told not to) wait until each is up."""
        for proc in procs:
            proc.start()
        if wait:
            for proc in procs:
                self.wait_ready(proc)
        return list(procs)

    def wait_ready(self, proc: Proc, *, timeout: float = 120) -> None:
        # Importing Django, the Telnyx SDK and the tasks takes ~4 s of CPU; on a busy
        # 2-core machine that has been seen to stretch to ~30 s.
        def ready() -> bool:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited:\n{proc.log_tail()}")
            log = proc.log.read_text(errors="replace").rsplit("===== start", 1)[-1]
            return proc.ready_marker in log

        wait_until(ready, timeout=timeout, what=f"{proc.name} to be ready", every=0.1)

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} ({p.log})\n{p.log_tail()}" for p in self.procs)

    def kill_all(self) -> None:
        for proc in reversed(self.procs):
            proc.kill9()


def database_url_for_subprocesses() -> str:
    """The database pytest is using right now (test_<name>), as a URL for the workers."""
    s = connection.settings_dict
    user = quote(s.get("USER") or "")
    password = quote(s.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{s['NAME']}"


@pytest.fixture(autouse=True)
def _recipients_in_daytime(daytime_recipients):
    """The workers send for real, at whatever hour the suite runs: recipients live where
    it is midday, so quiet hours (compliance.rules) never hold them."""


@pytest.fixture
def cluster(transactional_db, tmp_path) -> Iterator[tuple[Processes, RedisServer]]:
    """A private Redis plus the environment for workers on the test database. Tests
    start the workers and beat they need. Teardown kills every group it started before
    the test database is flushed (this fixture depends on transactional_db, so it is
    torn down first)."""
    procs = Processes(tmp_path)
    server = RedisServer(procs)
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url_for_subprocesses(),
        REDIS_URL=server.url,
        PROVIDER="simulator",
        SIMULATOR_LATENCY_MS=str(LATENCY_MS),
        # Without a simulator worker its receipts just stay queued in the private Redis;
        # a test that runs one points this at its own endpoint. Never a dev server's.
        SIMULATOR_WEBHOOK_URL="http://127.0.0.1:9/webhooks/telnyx/",
        DISPATCH_LEASE_SECONDS=str(LEASE_SECONDS),
        # One key pair for the simulator (signs) and us (verifies), whatever .env says.
        SIMULATOR_SIGNING_KEY=django_settings.SIMULATOR_SIGNING_KEY,
        TELNYX_PUBLIC_KEY=django_settings.TELNYX_PUBLIC_KEY,
        CELERY_TASK_ALWAYS_EAGER="false",
        PYTHONUNBUFFERED="1",
    )
    procs.env = env
    try:
        server.start()
        yield procs, server
    finally:
        procs.kill_all()
        connection.close()  # our own polling connection: nothing open while flushing


class CapturedWebhooks:
    """A real HTTP endpoint that keeps every request the simulator posts (raw body and
    headers, signature included) and answers 200, as our endpoint would."""

    def __init__(self) -> None:
        self.posts: list[tuple[bytes, dict[str, str]]] = []
        self._lock = threading.Lock()
        captured = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with captured._lock:
                    captured.posts.append((body, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.handler = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/webhooks/telnyx/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def snapshot(self) -> list[tuple[bytes, dict[str, str]]]:
        with self._lock:
            return list(self.posts)

    def down(self) -> None:
        """Stop listening: posts get "connection refused", as from a receiver that is
        down."""
        self.server.shutdown()
        self.server.server_close()

    def up(self) -> None:
        """Listen again, on the same port."""
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def captured_webhooks() -> Iterator[CapturedWebhooks]:
    capture = CapturedWebhooks()
    capture.thread.start()
    try:
        yield capture
    finally:
        capture.server.shutdown()
        capture.server.server_close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test shows the tail of every process log it started."""
    report = yield
    procs = item.funcargs.get("cluster") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and procs is not None:
        report.sections.append(("process logs", procs[0].logs()))
    return report
