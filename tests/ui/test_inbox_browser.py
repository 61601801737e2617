"""The inbox in a real browser, over the real ASGI stack (uvicorn: HTTP and the inbox
WebSocket): an inbound SMS injected through the simulator (`/api/v1/simulator/inbound/`:
the simulated carrier posts a signed webhook to our endpoint) appears in the open inbox
without a reload; the user opens the thread and replies; the dispatcher sends the reply
and the simulator's send log shows it leaving from the sticky number (the one the
inbound was sent to). Screenshots go to test-artifacts/ for a human to judge.
"""

import io
import time
from pathlib import Path

import pytest
from django.db import connection
from PIL import Image

from conversations.models import Conversation
from providers.models import SimulatorMessage
from tests.factories import api_client, make_account, make_contact, make_member, make_number
from tests.providers.conftest import celery_eager, mps_windows, signing_keys  # noqa: F401
from tests.ui.test_browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS, PHONE, signed_in_context
from tests.ui.test_status_browser import Worker, asgi_server  # noqa: F401
from texting.models import Message

OURS, OTHER_OURS = "+19715550870", "+19715550871"
ANA = "+15035550877"


def eventually(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 90, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.browser
@pytest.mark.usefixtures("daytime_recipients")  # the reply is never held by quiet hours
def test_an_inbound_text_appears_live_and_the_reply_leaves_from_the_sticky_number(
    asgi_server,  # noqa: F811
    settings,
    monkeypatch,
    celery_eager,  # noqa: F811
    signing_keys,  # noqa: F811
    mps_windows,  # noqa: F811
    tmp_path,
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop; see test_browser
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (make browser installs it)")
    from playwright.sync_api import expect, sync_playwright

    settings.PROVIDER = "simulator"
    settings.MEDIA_ROOT = str(tmp_path)
    settings.SIMULATOR_WEBHOOK_URL = f"{asgi_server}/webhooks/telnyx/"
    settings.SIMULATOR_LATENCY_MS = 0
    settings.SIMULATOR_RECEIPT_DELAY_MS = 0
    settings.DISPATCH_LOOP_SECONDS = 1.5
    # The simulated carrier delivers the reply and Ana writes nothing more (by default
    # it leaves ~5% failed or unconfirmed and answers ~5%, a few with STOP).
    settings.SIMULATOR_DELIVERED_RATIO = 1
    settings.SIMULATOR_FAILED_RATIO = 0
    settings.SIMULATOR_REPLY_RATE = 0
    settings.SIMULATOR_STOP_RATE = 0

    account = make_account("inbox", name="Inbox for Oregon", timezone="America/Los_Angeles")
    admin = make_member(account, "admin", "ines")
    make_number(account, OURS, state="OR", mps=5)
    make_number(account, OTHER_OURS, state="OR", mps=5)  # a second sender: stickiness matters
    make_contact(account, ANA, first_name="Ana", last_name="Lopez")

    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            context = signed_in_context(browser, admin, asgi_server)
            page = context.new_page()
            page.goto(f"{asgi_server}/conversations/")
            expect(page.locator("[data-inbox-conn]")).to_have_attribute("data-conn", "live")
            expect(page.locator("#conversation-list")).to_contain_text("No conversations")
            page.evaluate("window.__sameDocument = true")  # gone if the page reloads
            # A second viewer whose WebSocket never gets through: it polls instead.
            polled = context.new_page()
            polled.route_web_socket("**/ws/conversations/", lambda ws: ws.close())
            polled.goto(f"{asgi_server}/conversations/")
            expect(polled.locator("[data-inbox-conn]")).to_have_attribute("data-conn", "polling")

            # The carrier delivers a text to OURS (simulator → signed webhook → inbox).
            injected = api_client(admin, account).post(
                "/api/v1/simulator/inbound/",
                {"from": ANA, "to": OURS, "text": "Is the rally still on tonight?"},
                format="json",
            )
            assert injected.status_code == 202, injected.content
            row = page.locator("#conversation-list .thread-row").first
            expect(row).to_contain_text("Is the rally still on tonight?", timeout=10_000)
            expect(row).to_contain_text("Ana Lopez")
            expect(row.locator(".unread-dot")).to_be_visible()
            assert page.evaluate("window.__sameDocument") is True  # no reload
            expect(polled.locator("#conversation-list .thread-row").first).to_contain_text(
                "Is the rally still on tonight?", timeout=12_000
            )
            polled.close()
            page.screenshot(path=ARTIFACTS / "inbox-live.png", full_page=True)

            row.locator(".thread-link").click()
            expect(page.locator(".bubble-in")).to_contain_text("Is the rally still on tonight?")
            conversation = Conversation.objects.get(account=account, phone=ANA)
            assert conversation.our_number == OURS
            eventually(lambda: Conversation.objects.get(pk=conversation.pk).unread == 0)

            page.fill("#reply-body", "Yes! 7pm at the capitol steps, {first_name}.")
            page.get_by_role("button", name="Send", exact=True).click()
            expect(page.locator(".bubble-out")).to_contain_text(
                "Yes! 7pm at the capitol steps, Ana."
            )
            expect(page.locator("#reply-body")).to_have_value("")

            with Worker() as worker:
                eventually(
                    lambda: SimulatorMessage.objects.filter(to_number=ANA).exists(), timeout=20
                )
                # Its delivery status follows on the bubble without a reload.
                expect(page.locator(".bubble-out [data-delivery]")).to_have_text(
                    "Delivered", timeout=15_000
                )
                assert not worker.errors, worker.errors

            sent = SimulatorMessage.objects.get(to_number=ANA)
            assert sent.from_number == OURS  # the number Ana wrote to, not the other one
            assert sent.text.startswith("Yes! 7pm at the capitol steps, Ana.")
            reply = Message.objects.get(direction="outbound", to_number=ANA)
            assert reply.from_number == OURS and reply.campaign_id is None

            # A picture from the composer: uploaded with the reply, shown in its bubble.
            page.set_input_files(
                "#reply-file",
                files=[{"name": "flyer.png", "mimeType": "image/png", "buffer": _png()}],
            )
            page.get_by_role("button", name="Send", exact=True).click()
            picture = page.locator(".bubble-out img.bubble-media")
            expect(picture).to_have_count(1)
            # It loads (a signed path on this host): a broken image has no natural width.
            page.wait_for_function(
                "() => document.querySelector('.bubble-out img.bubble-media').naturalWidth === 40"
            )
            expect(page.locator("#reply-file")).to_have_value("")
            assert Message.objects.get(direction="outbound", media_ids__isnull=False)
            page.screenshot(path=ARTIFACTS / "inbox-thread.png", full_page=True)

            phone = context.new_page()
            phone.set_viewport_size(PHONE)
            phone.goto(f"{asgi_server}/conversations/{conversation.pk}/")
            expect(phone.locator(".bubble-out").first).to_be_visible()
            phone.screenshot(path=ARTIFACTS / "phone-inbox-thread.png", full_page=True)
            phone.goto(f"{asgi_server}/conversations/")
            phone.screenshot(path=ARTIFACTS / "phone-inbox.png", full_page=True)
        finally:
            browser.close()
            connection.close()
