"""Fixtures for the operations tests: the product started the way a user starts it.

Every process here is real and started in its own process group, which teardown
SIGKILLs whatever the test did. Nothing touches the developer's checkout, `.env`,
database or Redis: `make run` runs in a copy of the tree (`git ls-files`, with `.venv`
symlinked), on a free port, its own database (dropped afterwards) and a private
redis-server.
"""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from django.conf import settings as django_settings

from tests.servers import free_port, wait_until  # noqa: F401 (the suite's helpers)

REPO = Path(django_settings.BASE_DIR)

# The test process's own variables that must not reach `make run` (a parent `make test`
# passes its MAKEFLAGS; the rest are pytest's or are derived by `make run` itself).
_SCRUB_PREFIXES = ("PYTEST_", "MAKE", "MFLAGS")
_SCRUB = {
    "DJANGO_SETTINGS_MODULE",
    "CELERY_TASK_ALWAYS_EAGER",
    "DEBUG",
    "SECRET_KEY",
    "PORT",
    "WEB_PORT",
    "PUBLIC_BASE_URL",
    "SHORT_LINK_DOMAIN",
    "SIMULATOR_WEBHOOK_URL",
    "SIMULATOR_SIGNING_KEY",
    "TELNYX_PUBLIC_KEY",
    "PROVIDER",
    "ALLOWED_HOSTS",
}


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith(_SCRUB_PREFIXES)
    }
    env.update(extra)
    return env


def kill_group(popen: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, sig)


def processes_under(tree: Path) -> list[int]:
    """Every process whose working directory is inside `tree` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if Path(os.readlink(entry / "cwd")).is_relative_to(tree):
                found.append(int(entry.name))
    return found


def cmdline(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def alive(pid: int) -> bool:
    """Running: it exists and is not a zombie (exited, not yet reaped)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def parent(pid: int) -> int:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory) -> Iterator[str]:
    """A redis-server of our own (no persistence) on a free port; its URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("redis") / "redis.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(
            lambda: (
                subprocess.run(
                    ["redis-cli", "-p", str(port), "ping"], capture_output=True
                ).stdout.strip()
                == b"PONG"
            ),
            timeout=10,
            what="the private redis-server",
        )
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        kill_group(popen)
        popen.wait(timeout=10)


def copy_tree(dest: Path) -> Path:
    """The checkout as git sees it (tracked files and new ones it does not ignore, as
    they are on disk now), modification times kept, and `.venv` linked, not copied: a
    tree `make run` accepts as installed (its $(STAMP) rule) without touching ours."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if rel.split("/")[0] == ".venv" or src.is_symlink() or not src.is_file():
            continue  # the venv, symlinked dependencies (node_modules), deleted files
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    (dest / ".venv").symlink_to((REPO / ".venv").resolve())
    return dest


class MakeRun:
    """`make run` in a copy of the tree, its output in a log file."""

    def __init__(self, tree: Path, port: int, log: Path):
        self.tree, self.port, self.log = tree, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.popen: subprocess.Popen | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)

    def answering(self) -> bool:
        try:
            return self.get("/login/").status_code == 200
        except httpx.HTTPError:
            return False

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_for(
        self, predicate: Callable[[], object], *, what: str, stall: float = 120, limit: float = 500
    ) -> object:
        """Wait for `predicate` as long as `make run` keeps making progress (its output
        grows): fail when it has said nothing new for `stall` seconds, or after `limit`.
        A loaded machine is slow, not broken."""
        start = last_change = time.monotonic()
        last_size = -1
        while True:
            if not self.alive():
                raise AssertionError(f"`make run` exited while waiting for {what}:\n{self.tail()}")
            value = predicate()
            if value:
                return value
            now, size = time.monotonic(), self.log.stat().st_size
            if size != last_size:
                last_size, last_change = size, now
            if now - last_change > stall or now - start > limit:
                raise AssertionError(
                    f"timed out after {now - start:.0f} s ({now - last_change:.0f} s without "
                    f"new output) waiting for {what}\n----- make run\n{self.tail()}"
                )
            time.sleep(0.1)

    def main_processes(self) -> dict[str, int]:
        """The Procfile's processes running now, by what they run: {"web": pid,
        "dispatch": pid (the Celery main process of `-Q dispatch`), "beat": pid, ...}."""
        pids = processes_under(self.tree)
        found: dict[str, int] = {}
        for pid in pids:
            argv = cmdline(pid)
            if any(a.endswith("uvicorn") for a in argv[:2]):
                role = "web"
            elif "beat" in argv and "worker" not in argv:
                role = "beat"
            elif "worker" in argv and "-Q" in argv:
                role = argv[argv.index("-Q") + 1]
            else:
                continue
            if cmdline(parent(pid)) != argv:  # a pool child has its main process's argv
                found[role] = pid
        return found


@pytest.fixture(scope="module")
def make_run(tmp_path_factory, private_redis) -> Iterator[Callable[..., MakeRun]]:
    """Start `make run` (the real target) in a copy of the tree with the given `.env`
    lines and environment variables; stopped, and its database dropped, afterwards."""
    runs: list[MakeRun] = []
    databases: list[str] = []
    db = django_settings.DATABASES["default"]
    server = {
        "host": db.get("HOST") or "127.0.0.1",
        "port": db.get("PORT") or 5432,
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or None,
    }

    def start(*, dotenv: dict[str, str], env: dict[str, str]) -> MakeRun:
        base = tmp_path_factory.mktemp("make-run")
        tree = copy_tree(base / "tree")
        (tree / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
        port = free_port()
        database = f"a2p_ops_{os.getpid()}_{port}"
        databases.append(database)
        auth = server["user"] + (f":{server['password']}" if server["password"] else "")
        run = MakeRun(tree, port, base / "make-run.log")
        full_env = clean_env(
            PORT=str(port),
            DATABASE_URL=f"postgres://{auth}@{server['host']}:{server['port']}/{database}",
            REDIS_URL=private_redis,
            NO_COLOR="1",
            **env,
        )
        with run.log.open("wb") as out:
            run.popen = subprocess.Popen(
                # -o: never reinstall the (shared) .venv from a test, even if the lock
                # file is newer than its stamp; everything else is the real target.
                ["make", "--no-print-directory", "-o", ".venv/.installed", "run"],
                cwd=tree,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        runs.append(run)
        return run

    try:
        yield start
    finally:
        for run in runs:
            if run.popen is None:
                continue
            kill_group(run.popen, signal.SIGTERM)  # make and the process manager
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.popen.wait(timeout=20)
            kill_group(run.popen)
            run.popen.wait(timeout=10)
            # Whatever is still running from that tree (nothing, when the process
            # manager stopped its children as it should).
            for pid in processes_under(run.tree):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if databases:
            drop_databases(databases, server)


def drop_databases(names: list[str], server: dict) -> None:
    """DROP them, retrying for a while: a busy shared server may be out of connections."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
                for name in names:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def new_secret() -> str:
    return secrets.token_urlsafe(50)
