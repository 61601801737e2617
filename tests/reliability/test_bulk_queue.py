"""A STOP is applied at once while big contact imports run (issue 14), with real
processes: the web server (uvicorn), the `default` worker (webhook processing) and the
`bulk` worker (imports), as the Procfile runs them, on the test database and a private
Redis.

Imports used to share the `default` worker with webhook processing: two big imports
took both of its processes, and a STOP posted meanwhile waited until one finished. On
their own queue they leave `default` free.
"""

import time

import pytest

from config.celery import app
from contacts.models import Contact, ContactImport, ImportStatus, SmsStatus
from providers.simulator.transport import post_signed_event
from tests.factories import make_account, make_contact, make_number
from tests.inbound import inbound

from .conftest import wait_until

IMPORTS = 3
ROWS = 50_000  # the most an import may have
BUDGET_SECONDS = 3.0


def _csv(start: int) -> bytes:
    lines = ["phone,first_name,city,zip,notes"]
    for n in range(start, start + ROWS):
        lines.append(f"+1503{200 + n // 10_000:03d}{n % 10_000:04d},Name {n},Portland,97201,x")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.timeout(300)
def test_a_stop_is_applied_at_once_while_big_imports_run(cluster):
    procs, redis_server = cluster
    account = make_account()
    number = make_number(account, "+19712000100")
    contact = make_contact(account, "+15039990100")
    imports = [
        ContactImport.objects.create(
            account=account, filename=f"voters-{i}.csv", data=_csv(i * ROWS), total=ROWS
        )
        for i in range(IMPORTS)
    ]

    web, base = procs.web()
    procs.start(
        web,
        procs.worker("rel-default", queues="default", concurrency=2),
        procs.worker("rel-bulk", queues="bulk", concurrency=1),
    )
    # Queued as the upload queues them (routed by the settings' CELERY_TASK_ROUTES).
    with app.connection_for_write(redis_server.url) as connection:
        for imp in imports:
            app.send_task("contacts.tasks.import_contacts", args=[imp.pk], connection=connection)

    def importing() -> bool:
        return ContactImport.objects.filter(
            pk__in=[i.pk for i in imports], status=ImportStatus.RUNNING, processed__gt=0
        ).exists()

    wait_until(importing, timeout=120, what="an import to be under way", every=0.1)
    time.sleep(1)  # every worker process that takes imports has one by now

    stop = inbound(contact.phone, number.e164, "STOP")
    assert post_signed_event(stop, url=f"{base}/webhooks/telnyx/") == 200
    answered = time.monotonic()

    def opted_out() -> bool:
        return Contact.objects.filter(pk=contact.pk, sms_status=SmsStatus.OPTED_OUT).exists()

    while not opted_out():
        assert time.monotonic() - answered < 120, "the STOP never took effect"
        time.sleep(0.01)
    took = time.monotonic() - answered
    still_running = ContactImport.objects.filter(
        pk__in=[i.pk for i in imports], status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]
    ).count()
    assert took <= BUDGET_SECONDS, f"the STOP took {took:.2f} s, behind the imports"
    assert still_running, "the imports were over: not a STOP during an import"
