"""`make bench`: the send engine's benchmarks (issue 3). Not tests: they print figures,
ratios and PASS/FAIL against the issue's targets, and write bench-results.json.

    .venv/bin/python -m bench.run all            # what `make bench` runs
    .venv/bin/python -m bench.run dispatch --quick
    .venv/bin/python -m bench.run commit webhooks --strict

Subcommands: commit, audit (eligibility audit of 100k), dispatch (backlog: rate and conformance), latency (paced:
due-to-call), webhooks, end20k, import (a 50k-row contact CSV), inbox (50k threads, 1M
messages: inbox page, thread, search p95), chaos (issue 14's fault matrix: lost, duplicated
and seconds of outage per fault), all. See docs/benchmarks.md for what each measures.
The bench uses its own database (a2p_bench) and Redis db (7) unless DATABASE_URL /
REDIS_URL are set, and its own port (BENCH_PORT, 8090).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from . import config

BENCHES = [
    "commit",
    "audit",
    "dispatch",
    "latency",
    "webhooks",
    "end20k",
    "import",
    "inbox",
    "chaos",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("benches", nargs="*", default=["all"], help=f"{', '.join(BENCHES)}, all")
    parser.add_argument(
        "--quick", action="store_true", help="short runs for iteration (not the issue spec)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")
    args = parser.parse_args(argv)
    chosen = BENCHES if "all" in args.benches else args.benches
    unknown = [b for b in chosen if b not in BENCHES]
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}; choose from {', '.join(BENCHES)}, all")

    cfg = config.load(quick=args.quick)
    env = config.apply_environment(cfg)
    os.chdir(Path(__file__).resolve().parent.parent)

    from .procs import install_signal_handlers

    install_signal_handlers()
    print(
        f"bench: database {config._redact(cfg.database_url)}, redis {cfg.redis_url}, "
        f"port {cfg.port}, logs in {cfg.log_dir}"
        + ("" if cfg.spec_run else "  [NOT the issue-spec sizes: quick/overridden run]")
    )
    from . import fixtures

    fixtures.prepare_database(env)

    import django

    django.setup()

    from . import (
        bench_audit,
        bench_chaos,
        bench_commit,
        bench_dispatch,
        bench_end20k,
        bench_import,
        bench_inbox,
        bench_webhooks,
        report,
    )
    from .procs import ProcessManager

    modules = {
        "commit": bench_commit.run,
        "audit": bench_audit.run,
        "dispatch": bench_dispatch.run_backlog,
        "latency": bench_dispatch.run_paced,
        "webhooks": bench_webhooks.run,
        "end20k": bench_end20k.run,
        "import": bench_import.run,
        "inbox": bench_inbox.run,
        "chaos": bench_chaos.run,
    }
    manager = ProcessManager(log_dir=Path(cfg.log_dir), env=env)
    meta = {
        "command": _command(sys.argv[1:] if argv is None else argv),
        "git_commit": report.git_commit(),
        "machine": report.machine(),
        "config": cfg.as_dict(),
    }
    results = []
    try:
        for name in chosen:
            print(f"\n=== {name} ===", flush=True)
            started = time.perf_counter()
            try:
                result = modules[name](cfg, manager)
            finally:
                manager.stop_all()
            result.seconds = time.perf_counter() - started
            results.append(result)
            for target in result.targets:
                print(target.line())
            report.save([result], meta=meta)  # keep what finished even if a later one crashes
    except KeyboardInterrupt:
        print("\nbench: interrupted; children stopped.", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("bench: crashed; children stopped.", file=sys.stderr)
        return 2
    finally:
        manager.stop_all()
        _flush_redis()

    report.print_summary(results)
    print(f"\nwrote {report.RESULTS_FILE.name}")
    failed = [t for r in results for t in r.targets if not t.passed]
    if args.strict and failed:
        return 1
    return 0


def _flush_redis() -> None:
    """Leave no queued tasks behind in the bench's Redis db (the simulator's lifecycle
    backlog can be tens of thousands); the database stays for inspection."""
    try:
        import redis
        from django.conf import settings

        redis.Redis.from_url(settings.REDIS_URL).flushdb()
    except Exception as exc:  # noqa: BLE001 - best effort at exit
        print(f"bench: could not flush the bench Redis db: {exc}", file=sys.stderr)


def _command(args: list[str]) -> str:
    """How this run was started, to record next to its figures."""
    knobs = " ".join(
        f"{k}={v}"
        for k, v in sorted(os.environ.items())
        if k.startswith("BENCH_") and k != "BENCH_ARGS"
    )
    prefix = f"{knobs} " if knobs else ""
    if os.environ.get("MAKELEVEL"):
        return f'{prefix}make bench BENCH_ARGS="{" ".join(args)}"'
    return f"{prefix}.venv/bin/python -m bench.run {' '.join(args)}"


if __name__ == "__main__":
    sys.exit(main())
