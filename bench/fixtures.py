"""The bench database: create and migrate it, wipe it between benchmarks, and build the
data each benchmark needs quickly (set-based SQL, not per-row ORM calls)."""

from __future__ import annotations

import subprocess
import sys

from django.db import connection

from .config import LONG_CODES, LONG_MPS, SHORT_CODE, SHORT_MPS
from .procs import BIN, REPO

KEEP_TABLES = {"django_migrations", "django_content_type", "auth_permission"}
BODY = "Bench: polls are open 7am-8pm Tuesday, find yours at vote.example."


def prepare_database(env: dict[str, str]) -> None:
    """Create the database if missing and migrate it (same scripts as `make migrate`).
    The bench database is disposable: if its schema no longer matches the migrations
    (they changed under it), it is dropped and built again."""
    python = str(BIN / "python")
    migrate = [python, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run([python, "scripts/createdb.py"], cwd=REPO, env=env, check=True)
    if subprocess.run(migrate, cwd=REPO, env=env, capture_output=True).returncode == 0:
        return
    print("bench: the bench database does not migrate cleanly; recreating it", file=sys.stderr)
    _drop_database(env)
    subprocess.run([python, "scripts/createdb.py"], cwd=REPO, env=env, check=True)
    subprocess.run(migrate, cwd=REPO, env=env, check=True)


def _drop_database(env: dict[str, str]) -> None:
    from urllib.parse import urlparse

    import psycopg

    url = urlparse(env["DATABASE_URL"])
    name = url.path.lstrip("/")
    if "bench" not in name and env.get("BENCH_ALLOW_ANY_STORE") != "1":
        raise RuntimeError(f"refusing to drop {name!r}")
    with psycopg.connect(
        host=url.hostname,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wipe() -> None:
    """Empty every application table and the bench's Redis db (queues, limiter and
    simulator windows included). Only call with no bench process running."""
    import redis
    from django.conf import settings

    tables = [t for t in connection.introspection.table_names() if t not in KEEP_TABLES]
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE "
            + ", ".join(connection.ops.quote_name(t) for t in tables)
            + " RESTART IDENTITY CASCADE"
        )
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    connection.close()


def make_account(slug: str = "bench"):
    from django.contrib.auth import get_user_model

    from accounts.models import Account, Membership, Role

    account = Account.objects.create(
        slug=slug, name="Bench for Oregon", timezone="America/Los_Angeles", balance=100000
    )
    user = get_user_model().objects.create_user(username=f"{slug}-admin", password="bench")
    Membership.objects.create(user=user, account=account, role=Role.ADMIN)
    return account, user


def make_senders(account) -> dict[str, object]:
    """10 long codes at LONG_MPS and one short code at SHORT_MPS, registered and active."""
    from phone_numbers.models import NumberKind, PhoneNumber, RegistrationStatus

    numbers = {}
    for e164 in LONG_CODES:
        numbers[e164] = PhoneNumber.objects.create(
            account=account,
            e164=e164,
            kind=NumberKind.LONG,
            state="OR",
            mps=LONG_MPS,
            registration_status=RegistrationStatus.ACTIVE,
        )
    numbers[SHORT_CODE] = PhoneNumber.objects.create(
        account=account,
        e164=SHORT_CODE,
        kind=NumberKind.SHORT,
        mps=SHORT_MPS,
        registration_status=RegistrationStatus.ACTIVE,
    )
    check_simulator_agrees(numbers.values())
    return numbers


def check_simulator_agrees(numbers) -> None:
    """PhoneNumber.mps must be exactly what the simulated carrier enforces."""
    from providers.simulator.services import sender_mps

    for number in numbers:
        _kind, enforced = sender_mps(number.e164)
        if float(enforced) != float(number.mps):
            sys.exit(
                f"bench: {number.e164} has mps {number.mps} but the simulator enforces "
                f"{enforced}; check SIMULATOR_MPS_* / SimulatorNumber."
            )


def daytime_zone() -> str:
    """A zone where it is between 10:00 and 17:00 now, the one nearest 13:30."""
    from contacts.geo import zone_at_local_hour

    return zone_at_local_hour(13.5)


def make_contacts(account, count: int, *, first: int = 0) -> tuple[int, int]:
    """`count` opted-in contacts with distinct fictional phones (+1303 2xx-xxxx), by one
    INSERT ... SELECT generate_series. Returns (lowest id, highest id).

    The benches run at any hour and measure throughput, not quiet hours: the contacts
    live in a zone where it is midday when they are made (`daytime_zone`), with no state
    (no state rule), so neither the commit nor the dispatcher's final check holds them
    (compliance.rules). A bench lasts minutes; 13:30 ± 3.5 h leaves hours of room."""
    zone = daytime_zone()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO contacts_contact (
                account_id, phone, first_name, last_name, preferred_name, street, city, state,
                zip, pool, custom_fields, timezone, timezone_candidates, timezone_source,
                sms_status, created_at, updated_at)
            SELECT %(account)s, '+1303' || (2000000 + g)::text, 'Bench', 'Voter ' || g, '', '',
                   'Denver', '', '', 'contact', '{}'::jsonb, %(zone)s,
                   jsonb_build_array(%(zone)s::text), 'address', 'opted_in', now(), now()
            FROM generate_series(%(first)s, %(last)s) AS g
            RETURNING id
            """,
            {"account": account.pk, "first": first, "last": first + count - 1, "zone": zone},
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("ANALYZE contacts_contact")
    return min(ids), max(ids)


def make_campaign(account, user, *, name: str, senders: list, contact_ids: list[int]):
    """A draft campaign with this audience and sender pool, ready to commit."""
    from texting.services import campaign_create_from

    return campaign_create_from(
        account=account,
        actor=user,
        data={
            "name": name,
            "body": BODY,
            "sender_ids": [s.pk for s in senders],
            "audience": {"contact_ids": contact_ids},
        },
    )


def fresh_campaign(name: str, count: int):
    """A wiped database with one account, its senders and `count` contacts, and a draft
    campaign to all of them on every sender: (account, user, campaign, numbers)."""
    wipe()
    account, user = make_account()
    numbers = make_senders(account)
    low, high = make_contacts(account, count)
    campaign = make_campaign(
        account,
        user,
        name=name,
        senders=list(numbers.values()),
        contact_ids=list(range(low, high + 1)),
    )
    return account, user, campaign, numbers


def db_connections() -> tuple[int, int]:
    """(connections to the bench database, connections to the whole server) now; the
    server's max_connections is shared with everything else on the machine."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE datname = current_database()), count(*)"
            " FROM pg_stat_activity WHERE backend_type = 'client backend'"
        )
        ours, total = cursor.fetchone()
    return ours - 1, total  # not counting the bench's own connection


def max_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        return int(cursor.fetchone()[0])
