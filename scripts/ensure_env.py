"""Write a local .env with what a fresh clone needs, never touching what is already set.

- SECRET_KEY: random, if neither the environment nor .env has one.
- DEBUG=true for local runs, unless set.
- SIMULATOR_SIGNING_KEY / TELNYX_PUBLIC_KEY: a fresh Ed25519 pair when neither is set
  (with PROVIDER=simulator), so the simulator's webhooks verify against our endpoint.
"""

import base64
import os
import secrets
import sys
from pathlib import Path

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def read_env_file() -> dict[str, str]:
    values: dict[str, str] = {}
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return values


def main() -> int:
    current = read_env_file()

    def is_set(name: str) -> bool:
        return bool(os.environ.get(name) or current.get(name))

    additions: dict[str, str] = {}
    if not is_set("SECRET_KEY"):
        additions["SECRET_KEY"] = secrets.token_urlsafe(50)
    if not is_set("DEBUG"):
        additions["DEBUG"] = "true"
    provider = os.environ.get("PROVIDER") or current.get("PROVIDER") or "simulator"
    if (
        provider == "simulator"
        and not is_set("SIMULATOR_SIGNING_KEY")
        and not is_set("TELNYX_PUBLIC_KEY")
    ):
        from nacl.signing import SigningKey

        key = SigningKey.generate()
        additions["SIMULATOR_SIGNING_KEY"] = base64.b64encode(bytes(key)).decode()
        additions["TELNYX_PUBLIC_KEY"] = base64.b64encode(bytes(key.verify_key)).decode()
    if additions:
        with ENV_FILE.open("a") as fh:
            if not current:
                fh.write(
                    "# Written by scripts/ensure_env.py; edit freely. Environment variables win.\n"
                )
            for key, value in additions.items():
                fh.write(f"{key}={value}\n")
        print(f".env: added {', '.join(additions)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
