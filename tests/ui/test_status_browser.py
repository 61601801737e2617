"""The Status tab in a real browser, over the real ASGI stack (uvicorn: HTTP and the
campaign WebSocket), with messages flowing through the dispatcher and the carrier
simulator, whose signed receipts and replies come back to our webhook.

Watches the counters rise to completion without a reload, and pauses and resumes the
send with the tab's buttons. Screenshots go to test-artifacts/ for a human to judge.
"""

import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.factories import make_account, make_contact, make_member, make_number
from tests.providers.conftest import celery_eager, mps_windows, signing_keys  # noqa: F401
from tests.servers import uvicorn_thread
from tests.ui.test_browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS, PHONE, signed_in_context
from texting import tasks
from texting.commit import campaign_commit
from texting.models import Campaign, Message

RECIPIENTS = 30
MPS = 5  # about six seconds of sending: time to pause in the middle


@pytest.fixture
def asgi_server(transactional_db):
    """config.asgi.application under uvicorn in a thread (pytest-django's live_server is
    WSGI: no WebSockets). Static files are served by Django's ASGI static handler."""
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from config.asgi import application

    static = ASGIStaticFilesHandler(application)

    async def app(scope, receive, send):
        handler = static if scope["type"] == "http" else application
        await handler(scope, receive, send)

    with uvicorn_thread(app, ws="websockets-sansio") as url:
        yield url


class Worker:
    """What the worker and beat processes do, in two threads: drain the queue
    (texting.tasks.dispatch_tick; the dispatcher, receipts and transitions call
    live.campaign_changed themselves) and run the beat's trailing flush."""

    def __init__(self):
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._guard, args=(self._dispatch,), daemon=True),
            threading.Thread(target=self._guard, args=(self._beat,), daemon=True),
        ]

    def _guard(self, loop):
        try:
            loop()
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)
        finally:
            connection.close()

    def _dispatch(self):
        while not self.stop.is_set():
            tasks.dispatch_tick()
            time.sleep(0.05)

    def _beat(self):
        while not self.stop.is_set():
            tasks.flush_live()
            time.sleep(0.25)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


WAITING = ["queued", "scheduled", "sending"]


def settled(page, field: str, *, quiet: float = 1.2, timeout: float = 15.0) -> int:
    """The counter's value once it has stopped changing for `quiet` seconds."""
    value, since = counter(page, field), time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = counter(page, field)
        if now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return value
    raise AssertionError(f"{field} kept changing for {timeout} s")


def eventually(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the page never caught up with the database"
        time.sleep(0.2)


def counter(page, field: str) -> int:
    text = page.locator(f'#campaign-status [data-field="{field}"]').first.inner_text()
    return int(text.replace(",", "").replace("\u202f", "").replace("\xa0", ""))


@pytest.mark.browser
@pytest.mark.usefixtures("daytime_recipients")  # sends at any hour: never in quiet hours
def test_status_tab_counts_live_and_pauses_and_resumes(
    asgi_server,
    settings,
    monkeypatch,
    celery_eager,  # noqa: F811
    signing_keys,  # noqa: F811
    mps_windows,  # noqa: F811
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop; see test_browser
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (make browser installs it)")
    from playwright.sync_api import expect, sync_playwright

    settings.PROVIDER = "simulator"
    settings.SIMULATOR_WEBHOOK_URL = f"{asgi_server}/webhooks/telnyx/"
    settings.SIMULATOR_LATENCY_MS = 0
    settings.SIMULATOR_RECEIPT_DELAY_MS = 0
    settings.DISPATCH_LOOP_SECONDS = 1.5  # short drain loops, like beat kicks

    account = make_account("live", name="Live for Oregon", timezone="America/Los_Angeles")
    user = make_member(account, "manager", "lee")
    sender = make_number(account, "+19715550777", state="OR", mps=MPS)
    people = [
        make_contact(account, f"+1503555{i:04d}", first_name=f"Voter{i}")
        for i in range(2000, 2000 + RECIPIENTS)
    ]
    draft = Campaign.objects.create(
        account=account,
        created_by=user,
        name="Rally reminder",
        body="Rally at 6pm on the capitol steps!",
        sender_ids=[sender.pk],
        audience={"contact_ids": [c.pk for c in people]},
    )
    campaign = campaign_commit(campaign=draft, actor=user).campaign
    assert campaign.status == "sending"

    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            context = signed_in_context(browser, user, asgi_server)
            page = context.new_page()
            page.goto(f"{asgi_server}/campaigns/{campaign.pk}/status/")
            status = page.locator("#campaign-status")
            expect(status.locator("[data-conn]")).to_have_attribute("data-conn", "live")
            assert counter(page, "selected") == RECIPIENTS
            assert counter(page, "queued") == RECIPIENTS
            page.evaluate("window.__sameDocument = true")  # gone if the page reloads
            # A second viewer whose WebSocket never gets through: it polls instead.
            polled = context.new_page()
            polled.route_web_socket("**/ws/campaigns/**", lambda ws: ws.close())
            polled.goto(f"{asgi_server}/campaigns/{campaign.pk}/status/")
            expect(polled.locator(".live-conn")).to_have_attribute("data-conn", "polling")

            with Worker() as worker:
                # Counters rise on their own while the queue drains.
                expect(status.locator('[data-field="sent"]')).not_to_have_text("0", timeout=10_000)
                page.screenshot(path=ARTIFACTS / "status-sending.png", full_page=True)

                page.get_by_role("button", name="Pause").click()
                expect(page.locator("[data-campaign-badge]")).to_have_text("Paused")
                expect(status.get_by_role("button", name="Resume")).to_be_visible()
                expect(status.get_by_text("Queued messages are held")).to_be_visible()
                # Held: what was already with the carrier settles, then nothing leaves.
                held = settled(page, "queued")
                assert held > 0
                waiting = Message.objects.filter(campaign=campaign, status__in=WAITING)
                assert waiting.count() == held
                assert Campaign.objects.get(pk=campaign.pk).status == "paused"
                page.screenshot(path=ARTIFACTS / "status-paused.png", full_page=True)

                status.get_by_role("button", name="Resume").click()
                expect(page.locator("[data-campaign-badge]")).to_have_text("Sending")
                # ...and on to the end, without a reload.
                expect(status.locator('[data-field="progress"]')).to_have_text(
                    "100%", timeout=20_000
                )
                # Completed once the drain loop's housekeeping sees nothing waiting; on a
                # loaded 2-core machine that and the push can take a while (it once took
                # over 20 s after 100% in a clean-clone run).
                expect(page.locator("[data-campaign-badge]")).to_have_text(
                    "Completed", timeout=45_000
                )
                expect(status.get_by_text("Every message has left the queue")).to_be_visible()
                assert not worker.errors, worker.errors

            assert page.evaluate("window.__sameDocument") is True
            finished = Message.objects.filter(campaign=campaign)
            assert not finished.filter(status__in=WAITING).exists()

            def shows_the_database(viewer) -> bool:
                sent = finished.filter(status__in=["sent", "delivered"]).count()
                delivered = finished.filter(status="delivered").count()
                return (counter(viewer, "sent"), counter(viewer, "delivered")) == (sent, delivered)

            eventually(lambda: shows_the_database(page))
            eventually(lambda: shows_the_database(polled))
            assert counter(page, "queued") == counter(polled, "queued") == 0
            expect(polled.locator("[data-campaign-badge]")).to_have_text("Completed")
            # The rows follow the counters too (refreshed at most every few seconds).
            expect(status.locator("#status-messages")).not_to_contain_text("Queued", timeout=10_000)
            expect(status.locator("#status-health [data-health]")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "status-completed.png", full_page=True)

            # The recipients table: filter without leaving the page.
            page.select_option("#status-filter", "delivered")
            expect(
                page.locator("#status-messages .table-recipients tbody tr").first
            ).to_contain_text("Delivered")
            phone = context.new_page()
            phone.set_viewport_size(PHONE)
            phone.goto(f"{asgi_server}/campaigns/{campaign.pk}/status/")
            expect(phone.locator(".live-conn")).to_have_attribute("data-conn", "live")
            phone.screenshot(path=ARTIFACTS / "phone-status-completed.png", full_page=True)
        finally:
            browser.close()
            # Inside Playwright's block this thread runs an event loop, so Django kept a
            # separate connection for it: close it here, or it outlives the test.
            connection.close()
