"""Create the database named in DATABASE_URL if it does not exist yet."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402

db = settings.DATABASES["default"]
params = {
    "host": db.get("HOST") or None,
    "port": db.get("PORT") or None,
    "user": db.get("USER") or None,
    "password": db.get("PASSWORD") or None,
}
with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
    if not exists:
        conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
        print(f"created database {db['NAME']}", file=sys.stderr)
