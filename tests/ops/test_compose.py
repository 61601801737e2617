"""docker-compose.yml, checked without a Docker engine (there is none here): it is the
Procfile's process list (generated from it by scripts/compose.py, and current), every
queue a task is routed to has a worker, the app restarts unless stopped, and its
environment gives production settings that work over plain HTTP on localhost.
"""

import json
import re
import shlex
import subprocess
import sys

import pytest
import yaml
from django.conf import settings as django_settings
from honcho.environ import parse_procfile

from .conftest import REPO, clean_env

COMPOSE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())  # resolves the anchors and `<<` merges


@pytest.fixture(scope="module")
def procfile() -> dict[str, str]:
    return dict(parse_procfile((REPO / "Procfile").read_text()).processes)


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def worker_queues(commands: dict[str, list[str]]) -> dict[str, str]:
    """{queue: concurrency} over the Celery workers among these commands."""
    found = {}
    for argv in commands.values():
        if "worker" in argv:
            for queue in option(argv, "-Q").split(","):
                found[queue] = option(argv, "-c")
    return found


def compose_defaults(value: str) -> str:
    """What compose interpolates with nothing set on the host (${X:?...} is required:
    a stand-in)."""
    value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))
    return re.sub(r"\$\{\w+:\?[^}]*\}", "set-by-the-user", value)


def test_compose_file_is_generated_from_the_procfile():
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "compose.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_every_procfile_process_is_a_service_running_the_same_command(compose, procfile):
    services = compose["services"]
    for name, command in procfile.items():
        assert name in services, f"no compose service for the Procfile's {name}"
        expected = shlex.split(re.sub(r"\$\{WEB_PORT:-\d+\}", "8000", command))
        assert services[name]["command"] == expected
        assert services[name]["restart"] == "unless-stopped", name
        # Not before the schema exists.
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    for name in ("postgres", "redis"):
        assert services[name]["restart"] == "unless-stopped"


def test_every_routed_queue_has_a_worker_in_the_procfile_and_in_compose(compose, procfile):
    routed = {django_settings.CELERY_TASK_DEFAULT_QUEUE} | {
        route["queue"] for route in django_settings.CELERY_TASK_ROUTES.values()
    }
    wanted = routed | {"default", "dispatch", "simulator", "bulk"}
    procfile_queues = worker_queues({n: shlex.split(c) for n, c in procfile.items()})
    compose_queues = worker_queues(
        {n: s.get("command") or [] for n, s in compose["services"].items()}
    )
    assert wanted <= set(procfile_queues), f"Procfile workers: {procfile_queues}"
    assert wanted <= set(compose_queues), f"compose workers: {compose_queues}"
    # Long work runs one at a time on its own worker, never on `default`.
    assert procfile_queues["bulk"] == compose_queues["bulk"] == "1"
    for argv in [shlex.split(c) for c in procfile.values()]:
        if "worker" in argv:
            assert {"bulk", "default"} - set(option(argv, "-Q").split(",")), argv


def test_the_app_runs_with_production_settings_over_plain_http(compose):
    web = compose["services"]["web"]
    environment = {k: compose_defaults(v) for k, v in web["environment"].items()}
    assert environment["DEBUG"] == "false"
    # The settings module itself, in a fresh process with exactly that environment.
    probe = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'DEBUG': s.DEBUG, 'ssl_redirect': s.SECURE_SSL_REDIRECT, "
        "'session_secure': s.SESSION_COOKIE_SECURE, 'csrf_secure': s.CSRF_COOKIE_SECURE, "
        "'hsts': s.SECURE_HSTS_SECONDS, 'static': s.STORAGES['staticfiles']['BACKEND'], "
        "'webhook_url': s.SIMULATOR_WEBHOOK_URL, 'hosts': s.ALLOWED_HOSTS}))"
    )
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings", **environment)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    s = json.loads(done.stdout.strip().splitlines()[-1])
    assert s["DEBUG"] is False
    assert s["ssl_redirect"] is False  # compose serves http://localhost:8000
    assert s["session_secure"] and s["csrf_secure"] and s["hsts"] > 0
    assert s["static"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert s["webhook_url"] == "http://web:8000/webhooks/telnyx/"
    assert {"localhost", "web"} <= set(s["hosts"])
    # HTTPS redirects can be turned on behind a TLS proxy.
    assert "${SECURE_SSL_REDIRECT:-false}" in COMPOSE.read_text()
    # Published on this machine only.
    assert web["ports"] == ["127.0.0.1:8000:8000"]


def test_static_files_are_collected_into_the_image_and_secrets_stay_out(compose):
    dockerfile = compose["services"]["web"]["build"]["dockerfile_inline"]
    run_lines = [line for line in dockerfile.splitlines() if line.startswith("RUN ")]
    collect = [line for line in run_lines if "manage.py collectstatic --noinput" in line]
    assert collect and "DEBUG=false" in collect[0]
    assert dockerfile.index("COPY . .") < dockerfile.index(collect[0])
    assert "USER app" in dockerfile  # not root
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git"} <= set(ignored)


def test_migrations_run_once_before_the_app(compose):
    migrate = compose["services"]["migrate"]
    assert "manage.py migrate --noinput" in " ".join(migrate["command"])
    assert migrate["restart"] == "no"
    # Uploaded media are shared by the web and the workers that process them.
    for name in ("web", "bulk"):
        assert "media:/app/media" in compose["services"][name]["volumes"]
