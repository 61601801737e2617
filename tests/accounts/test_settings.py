"""Settings come from the environment and fail loudly when incomplete."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_telnyx_without_api_key_fails_naming_the_variable():
    res = run_manage("check", PROVIDER="telnyx", TELNYX_API_KEY="", TELNYX_PUBLIC_KEY="abc")
    assert res.returncode != 0
    assert "TELNYX_API_KEY" in res.stderr


def test_telnyx_without_public_key_fails_naming_the_variable():
    res = run_manage("check", PROVIDER="telnyx", TELNYX_API_KEY="KEY123", TELNYX_PUBLIC_KEY="")
    assert res.returncode != 0
    assert "TELNYX_PUBLIC_KEY" in res.stderr


def test_unknown_provider_is_refused():
    res = run_manage("check", PROVIDER="twilio")
    assert res.returncode != 0
    assert "PROVIDER" in res.stderr


def test_production_settings_pass_check_deploy():
    res = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="x7Qp2mV9zL4rT8wK1nB6yH3cF5gJ0sD2aE7uI9oP4lM8kN1bV6cX3zQ5wR8tY2u",
        ALLOWED_HOSTS="texting.example.org",
        PUBLIC_BASE_URL="https://texting.example.org",
    )
    assert res.returncode == 0, res.stderr + res.stdout
    assert "System check identified no issues" in res.stdout
