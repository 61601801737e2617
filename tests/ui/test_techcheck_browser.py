"""Tech Check → Send in a real browser: a draft with a public link shortener fails the
content check (with its remedy, and Send disabled); the body is fixed through the API;
every check passes; Send commits it, and the campaign completes on the carrier
simulator (dispatcher and webhooks for real, as in test_status_browser)."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from tests.factories import api_client, make_account, make_contact, make_member, make_number
from tests.providers.conftest import celery_eager, mps_windows, signing_keys  # noqa: F401
from tests.ui.test_browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS, signed_in_context
from tests.ui.test_status_browser import Worker, asgi_server  # noqa: F401
from texting.models import Campaign, Message

RECIPIENTS = 6


@pytest.mark.browser
@pytest.mark.usefixtures("daytime_recipients")  # sends at any hour: never in quiet hours
def test_tech_check_then_send_completes_on_the_simulator(
    asgi_server,  # noqa: F811
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
    settings.DISPATCH_LOOP_SECONDS = 1.5

    account = make_account("tcb", name="Tech Check for Oregon", balance=Decimal("20"))
    user = make_member(account, "manager", "tess")
    sender = make_number(account, "+19715550888", state="OR", mps=10)
    people = [
        make_contact(account, f"+1503555{i:04d}", first_name=f"Voter{i}")
        for i in range(3000, 3000 + RECIPIENTS)
    ]
    draft = Campaign.objects.create(
        account=account,
        created_by=user,
        name="Rally reminder",
        body="Rally at 6pm! RSVP: bit.ly/rally-6pm",
        sender_ids=[sender.pk],
        audience={"contact_ids": [c.pk for c in people]},
    )

    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            context = signed_in_context(browser, user, asgi_server)
            page = context.new_page()
            page.goto(f"{asgi_server}/campaigns/{draft.pk}/tech-check/")
            checks = page.locator("#tech-check")
            content = checks.locator('[data-check="content"]')
            expect(content).to_have_attribute("data-ok", "false")
            expect(content).to_contain_text("✗")
            expect(content).to_contain_text("bit.ly")
            expect(content).to_contain_text(
                "Use full links; the platform shortens them on the branded domain."
            )
            expect(checks.locator("[data-tc-summary]")).to_have_text("1 check failing")
            send = page.get_by_role("button", name="Send now")
            expect(send).to_be_disabled()
            expect(checks.locator("[data-audit=eligible]")).to_have_text(str(RECIPIENTS))
            page.screenshot(path=ARTIFACTS / "techcheck-failing.png", full_page=True)

            # The fix, through the API, then a fresh look.
            fixed = api_client(user, account).patch(
                f"/api/v1/campaigns/{draft.pk}/",
                {"body": "Rally at 6pm! RSVP: https://vote.example.org/rally"},
                format="json",
            )
            assert fixed.status_code == 200, fixed.json()
            page.reload()
            expect(checks.locator("[data-tc-summary]")).to_have_text("All checks pass")
            expect(checks.locator('[data-check][data-ok="false"]')).to_have_count(0)
            expect(checks.locator('[data-check="content"]')).to_contain_text("✓")
            expect(checks.locator("[data-final-body]")).to_contain_text("Reply STOP to opt out.")
            expect(checks.locator(".samples .bubble")).to_have_count(3)
            expect(send).to_be_enabled()
            page.screenshot(path=ARTIFACTS / "techcheck-passing.png", full_page=True)

            with Worker() as worker:
                send.click()
                # The commit lands on the Status tab, which follows the send to the end.
                page.wait_for_url(f"**/campaigns/{draft.pk}/status/")
                expect(page.locator(".messages")).to_contain_text("is sending")
                expect(page.locator("[data-campaign-badge]")).to_have_text(
                    "Completed", timeout=30_000
                )
                assert not worker.errors, worker.errors
            page.screenshot(path=ARTIFACTS / "techcheck-sent.png", full_page=True)

            sent = Message.objects.filter(campaign=draft)
            assert sent.count() == RECIPIENTS
            # Every message reached a final state at the carrier (the simulator fails ~3%
            # of deliveries at random, as networks do: `failed` is a final state too).
            assert not sent.exclude(status__in=["sent", "delivered", "failed"]).exists()
            assert sent.exclude(status="failed").exists()
            # Each recipient got their own short link in place of the long one.
            bodies = list(sent.values_list("body", flat=True))
            assert len(set(bodies)) == RECIPIENTS
            for body in bodies:
                assert re.fullmatch(
                    r"Rally at 6pm! RSVP: https?://[^/\s]+/s/[0-9A-Za-z]+\nReply STOP to opt out\.",
                    body,
                ), body
            # The tab now says the campaign was committed.
            page.goto(f"{asgi_server}/campaigns/{draft.pk}/tech-check/")
            expect(page.locator("#tech-check")).to_contain_text("passed the Tech Check")
        finally:
            browser.close()
            connection.close()
