"""Write docker-compose.yml from the Procfile, so the two never disagree.

The Procfile is the one list of processes. Each of its entries becomes a compose
service of the same name running the same command (`${WEB_PORT:-8000}` expanded to the
container's port 8000; the image has its virtualenv at /app/.venv, so `.venv/bin/...`
works as it is), with `restart: unless-stopped`. Around them: PostgreSQL, Redis, and a
one-shot `migrate` service (migrate, then seed_demo) that the app services wait for.

    python scripts/compose.py            # rewrite docker-compose.yml
    python scripts/compose.py --check    # exit 1 if docker-compose.yml is not up to date

tests/ops/test_compose.py runs the check, and checks the result's structure.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

from honcho.environ import parse_procfile

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
CONTAINER_PORT = "8000"
# What the Procfile's ${VAR:-default} stand for inside a container.
CONTAINER_VARS = {"WEB_PORT": CONTAINER_PORT}

_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")

HEADER = """\
# GENERATED from the Procfile by scripts/compose.py: edit those, then run
# `.venv/bin/python scripts/compose.py` (tests/ops/test_compose.py fails until you do).
#
# Production settings (DEBUG off), every Procfile process as its own service, restarted
# unless stopped. `SECRET_KEY=... docker compose up --build`, then open
# http://localhost:8000 (demo / demo). See README.md, "Docker".
x-app: &app
  image: a2p-texting:local
  build:
    context: .
    dockerfile_inline: |
      FROM python:3.11-slim
      WORKDIR /app
      RUN useradd --create-home --uid 1000 app
      COPY requirements.lock .
      RUN python -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.lock
      COPY . .
      # Static files are built into the image: with DEBUG off WhiteNoise serves the
      # hashed, compressed copies collectstatic writes (no key is kept: build only).
      RUN SECRET_KEY=collectstatic-only DEBUG=false .venv/bin/python manage.py collectstatic --noinput --verbosity 0 && mkdir -p media && chown app:app /app /app/media
      USER app
  environment:
    DATABASE_URL: postgres://postgres:postgres@postgres:5432/a2p
    REDIS_URL: redis://redis:6379/0
    DEBUG: "false"
    # Required: the simulator's signing key is derived from it when not given.
    SECRET_KEY: "${SECRET_KEY:?set SECRET_KEY, for example to the output of: openssl rand -base64 48}"
    ALLOWED_HOSTS: ${ALLOWED_HOSTS:-localhost,127.0.0.1,web}
    # Plain HTTP on localhost here; behind a TLS proxy set it to true (the proxy must
    # send X-Forwarded-Proto). Secure cookies and HSTS stay on either way.
    SECURE_SSL_REDIRECT: ${SECURE_SSL_REDIRECT:-false}
    # Addresses whose X-Forwarded-For uvicorn believes (your TLS proxy's): the sign-in
    # limits count each client by its address, not the proxy's.
    FORWARDED_ALLOW_IPS: ${FORWARDED_ALLOW_IPS:-127.0.0.1,::1}
    PUBLIC_BASE_URL: ${PUBLIC_BASE_URL:-http://localhost:8000}
    SHORT_LINK_DOMAIN: ${SHORT_LINK_DOMAIN:-localhost:8000}
    PROVIDER: ${PROVIDER:-simulator}
    # The simulator posts its signed webhooks to the web service over compose's network.
    SIMULATOR_WEBHOOK_URL: http://web:8000/webhooks/telnyx/
    SIMULATOR_SIGNING_KEY: ${SIMULATOR_SIGNING_KEY:-}
    TELNYX_PUBLIC_KEY: ${TELNYX_PUBLIC_KEY:-}
    TELNYX_API_KEY: ${TELNYX_API_KEY:-}
    TELNYX_MESSAGING_PROFILE_ID: ${TELNYX_MESSAGING_PROFILE_ID:-}
  volumes:
    - media:/app/media

x-after-migrate: &after-migrate
  postgres: {condition: service_healthy}
  redis: {condition: service_started}
  migrate: {condition: service_completed_successfully}

services:
  postgres:
    image: postgres:15
    environment:
      POSTGRES_PASSWORD: postgres
      POSTGRES_DB: a2p
    volumes:
      - postgres:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "postgres"]
      interval: 2s
      retries: 30
    restart: unless-stopped
  redis:
    image: redis:7
    command: ["redis-server", "--save", "", "--appendonly", "no"]
    restart: unless-stopped
  # Once per `up`, before any app process: the schema, then the demo account (both
  # idempotent).
  migrate:
    <<: *app
    command: ["sh", "-c", ".venv/bin/python manage.py migrate --noinput && .venv/bin/python manage.py seed_demo"]
    depends_on:
      postgres: {condition: service_healthy}
      redis: {condition: service_started}
    restart: "no"
"""

FOOTER = """
volumes:
  postgres:
  media:
"""


def container_command(command: str) -> list[str]:
    """A Procfile command as the container runs it: variables expanded, then split."""

    def expand(match: re.Match) -> str:
        name = match.group(1) or match.group(3)
        if name not in CONTAINER_VARS:
            raise SystemExit(
                f"Procfile uses ${name}; give it a container value in "
                "scripts/compose.py CONTAINER_VARS"
            )
        return CONTAINER_VARS[name]

    return shlex.split(_VAR.sub(expand, command))


def _flow(argv: list[str]) -> str:
    """A YAML flow sequence of double-quoted strings (JSON-compatible)."""
    quoted = ('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in argv)
    return "[" + ", ".join(quoted) + "]"


def render(procfile_text: str) -> str:
    processes = parse_procfile(procfile_text).processes
    blocks = []
    for name, command in processes.items():
        argv = container_command(command)
        if "$" in " ".join(argv):
            raise SystemExit(f"Procfile entry {name!r}: a '$' compose would interpolate")
        lines = [
            f"  {name}:",
            "    <<: *app",
            f"    command: {_flow(argv)}",
            "    depends_on: *after-migrate",
            "    restart: unless-stopped",
        ]
        if name == "web":
            # Published on this machine only: the demo logins are demo / demo.
            lines.append(f'    ports: ["127.0.0.1:{CONTAINER_PORT}:{CONTAINER_PORT}"]')
        blocks.append("\n".join(lines) + "\n")
    return HEADER + "".join(blocks) + FOOTER


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is current")
    args = parser.parse_args(argv)
    wanted = render((REPO / "Procfile").read_text())
    current = COMPOSE_FILE.read_text() if COMPOSE_FILE.exists() else ""
    if args.check:
        if current != wanted:
            print(
                "docker-compose.yml does not match the Procfile: run "
                "`.venv/bin/python scripts/compose.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != wanted:
        COMPOSE_FILE.write_text(wanted)
        print("wrote docker-compose.yml", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
