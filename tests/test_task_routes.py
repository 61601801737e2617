"""Which queue each Celery task lands on, as Celery itself resolves it (the settings'
CELERY_TASK_ROUTES through the app's router). Long work has its own `bulk` queue and
worker, so webhook processing (STOP, receipts) on `default` never waits behind an
import (issue 14: a 100,000-column import once held up a STOP for 70 s)."""

import pytest

from config.celery import app

# Every task that runs long, by design: imports now; exports and image processing go
# here too when they become tasks.
BULK = {"contacts.tasks.import_contacts", "texting.tasks.media_cleanup"}


def _queues() -> dict[str, str]:
    app.loader.import_default_modules()  # the tasks modules, as a worker imports them
    return {
        name: app.amqp.router.route({}, name)["queue"].name
        for name in app.tasks
        if not name.startswith("celery.")
    }


def test_long_work_goes_to_the_bulk_queue_and_nothing_else_does():
    queues = _queues()
    assert set(queues) >= BULK, "a bulk task was renamed: update this test and the routes"
    assert {name for name, queue in queues.items() if queue == "bulk"} == BULK


@pytest.mark.parametrize(
    "prefix, queue",
    [
        ("providers.tasks.", "default"),  # webhook processing: STOP, receipts
        ("providers.simulator.", "simulator"),
        ("texting.tasks.dispatch_tick", "dispatch"),
    ],
)
def test_webhooks_dispatch_and_the_simulator_keep_their_queues(prefix, queue):
    routed = {name: q for name, q in _queues().items() if name.startswith(prefix)}
    assert routed, prefix
    assert set(routed.values()) == {queue}, routed
