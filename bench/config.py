"""Benchmark configuration: the environment every bench process and child shares.

Imported before Django is set up: it fixes DATABASE_URL / REDIS_URL (the bench's own
database and Redis db unless already set), the port, the simulator's knobs and the
production-like settings, so the bench never touches the dev database or posts to the
dev server.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/a2p_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"

# The senders every dispatch benchmark uses: 10 long codes at 10 MPS and one short code
# at 100 MPS, 200 MPS in all. The simulator is told the same rates (SIMULATOR_MPS_*).
LONG_MPS = 10
SHORT_MPS = 100
LONG_CODES = [f"+1503999{n:04d}" for n in range(1, 11)]
SHORT_CODE = "99001"


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _optional_int(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value else None


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class BenchConfig:
    database_url: str
    redis_url: str
    port: int
    log_dir: str
    latency_ms: int
    commit_rows: int
    commit_runs: int
    seconds: float  # dispatch measurement window
    warmup: float  # skipped at the start of the dispatch run
    paced_seconds: float  # due-to-call (paced) run window
    paced_fraction: float  # paced offer as a share of each sender's MPS
    webhook_seconds: float  # open-loop run at webhook_rate
    webhook_rate: float
    webhook_saturation_seconds: float  # closed-loop run (ceiling)
    webhook_connections: int
    webhook_worker: bool  # a `default` worker processes events during the webhook run
    end_messages: int
    end_timeout: float
    workers: int  # instances of the Procfile's dispatcher entry
    worker_concurrency: int | None  # their -c (None: the Procfile's)
    simulator_concurrency: int | None  # -c of the simulator worker (None: the Procfile's)
    chaos_messages: int  # the campaign each chaos fault hits

    @property
    def spec_run(self) -> bool:
        """True when every size and duration is the issue's (not a quick run)."""
        return (
            self.commit_rows == 100_000
            and self.seconds >= 60
            and self.latency_ms == 100
            and self.webhook_seconds >= 20
            and self.end_messages == 20_000
            and self.workers >= 2
        )

    def as_dict(self) -> dict:
        data = asdict(self)
        data["database_url"] = _redact(self.database_url)
        data["spec_run"] = self.spec_run
        return data


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def load(quick: bool = False) -> BenchConfig:
    """Read the BENCH_* knobs (a quick run shrinks the defaults, never explicit values)."""
    q = quick or os.environ.get("BENCH_QUICK", "") not in ("", "0", "false")
    return BenchConfig(
        database_url=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        redis_url=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        port=_int("BENCH_PORT", 8090),
        log_dir=os.environ.get("BENCH_LOG_DIR", "/tmp/a2p-bench"),
        latency_ms=_int("BENCH_LATENCY_MS", 100),
        commit_rows=_int("BENCH_COMMIT_ROWS", 100_000),
        commit_runs=_int("BENCH_COMMIT_RUNS", 1 if q else 3),
        seconds=_float("BENCH_SECONDS", 20 if q else 60),
        warmup=_float("BENCH_WARMUP", 5),
        paced_seconds=_float("BENCH_PACED_SECONDS", 15 if q else 30),
        paced_fraction=_float("BENCH_PACED_FRACTION", 0.95),
        webhook_seconds=_float("BENCH_WEBHOOK_SECONDS", 10 if q else 20),
        webhook_rate=_float("BENCH_WEBHOOK_RATE", 500),
        webhook_saturation_seconds=_float("BENCH_WEBHOOK_SATURATION_SECONDS", 5 if q else 10),
        webhook_connections=_int("BENCH_WEBHOOK_CONNECTIONS", 64),
        webhook_worker=os.environ.get("BENCH_WEBHOOK_WORKER", "1") not in ("0", "false", ""),
        end_messages=_int("BENCH_END_MESSAGES", 4000 if q else 20_000),
        end_timeout=_float("BENCH_END_TIMEOUT", 1200),
        workers=_int("BENCH_WORKERS", 2),
        worker_concurrency=_optional_int("BENCH_WORKER_CONCURRENCY"),
        simulator_concurrency=_optional_int("BENCH_SIMULATOR_CONCURRENCY"),
        chaos_messages=_int("BENCH_CHAOS_MESSAGES", 1000 if q else 4000),
    )


def apply_environment(cfg: BenchConfig) -> dict[str, str]:
    """Set the process environment (Django reads it at setup; children inherit it) and
    return it. Refuses stores that look like the dev or test ones: the bench truncates
    every table and flushes its Redis db."""
    db_name = urlparse(cfg.database_url).path.lstrip("/")
    redis_db = (urlparse(cfg.redis_url).path.lstrip("/") or "0").split("?")[0]
    if os.environ.get("BENCH_ALLOW_ANY_STORE") != "1":
        if "bench" not in db_name:
            sys.exit(
                f"bench: refusing to use database {db_name!r}: the benchmarks truncate every "
                "table. Use a database whose name contains 'bench' (default a2p_bench), or "
                "set BENCH_ALLOW_ANY_STORE=1."
            )
        if redis_db in ("0", "15"):
            sys.exit(
                f"bench: refusing Redis db {redis_db} (dev/tests use it; the bench flushes its "
                "db). Default is db 7; or set BENCH_ALLOW_ANY_STORE=1."
            )
    base = f"http://127.0.0.1:{cfg.port}"
    forced = {
        "DATABASE_URL": cfg.database_url,
        "REDIS_URL": cfg.redis_url,
        # Never a real carrier, never the dev server: the bench's own web port.
        "PROVIDER": "simulator",
        "PORT": str(cfg.port),
        "WEB_PORT": str(cfg.port),
        "PUBLIC_BASE_URL": base,
        "SHORT_LINK_DOMAIN": f"127.0.0.1:{cfg.port}",
        "SIMULATOR_WEBHOOK_URL": f"{base}/webhooks/telnyx/",
        "SIMULATOR_LATENCY_MS": str(cfg.latency_ms),
        # What the simulated carrier enforces on the senders it did not provision must be
        # what PhoneNumber.mps says (the bench also checks this before each run).
        "SIMULATOR_MPS_LONG": str(LONG_MPS),
        "SIMULATOR_MPS_SHORT": str(SHORT_MPS),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(forced)
    # Production-like unless told otherwise (DEBUG keeps every query in memory).
    os.environ["DEBUG"] = os.environ.get("BENCH_DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "INFO")
    Path(cfg.log_dir).mkdir(parents=True, exist_ok=True)
    return dict(os.environ)
