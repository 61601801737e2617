"""One smoke test in a real browser: log in, see the dashboard, look at it on a phone.

Screenshots go to test-artifacts/ (git-ignored) for a human to judge the design.
"""

import datetime
from pathlib import Path

import pytest
from django.utils import timezone

from tests.factories import (
    make_account,
    make_campaign,
    make_contact,
    make_event,
    make_member,
    make_number,
)
from tests.inbound import text_in

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


def signed_in_context(browser, user, base_url: str, viewport: dict | None = None):
    """A browser context whose session is `user`'s (logged in through Django's test
    client, the cookie handed to the browser): for pages on a server of our own."""
    from django.conf import settings as django_settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}]
    )
    return context


def _sample_data():
    account = make_account(
        "demo", name="Demo for Oregon", timezone="America/Los_Angeles", balance=250
    )
    user = make_member(account, "admin", "demo")
    make_number(account, "+15035550100", state="OR", mps=10, registration_status="active")
    make_number(account, "+18335550100", kind="toll_free", mps=20)
    campaign = make_campaign(account, "Spring canvass", user, description="Door-knock follow-ups")
    places = [("Portland", "OR", "97205"), ("Eugene", "OR", "97401"), ("Seattle", "WA", "98101")]
    names = ["Ana Alvarez", "Ben Brooks", "Chloe Chen", "Dev Diaz", "Elena Evans", "Farid Foster"]
    contacts = []
    for i, name in enumerate(names):
        first, last = name.split()
        city, state, zip_code = places[i % len(places)]
        contacts.append(
            make_contact(
                account,
                f"+1503555{i + 110:04d}",
                first_name=first,
                last_name=last,
                city=city,
                state=state,
                zip=zip_code,
                custom_fields={"precinct": f"{i + 1}A"},
            )
        )
    make_contact(account, "+18005550199", first_name="Grace", last_name="Garcia")
    now = timezone.now()
    ana = contacts[0]
    make_event(ana, "sms_sent", campaign_id=1, at=now - datetime.timedelta(hours=3))
    make_event(ana, "sms_delivered", campaign_id=1, at=now - datetime.timedelta(hours=3))
    # The Dashboard's recent replies are the inbox's feed: real inbound texts.
    text_in(contacts[1].phone, "+15035550100", "What time does it start?")
    text_in(ana.phone, "+15035550100", "Yes! Count me in for Saturday.")
    return ana, campaign


@pytest.mark.browser
def test_login_and_dashboard_in_chromium(live_server, transactional_db, monkeypatch):
    # Playwright's sync API runs an event loop in this thread, which makes Django refuse
    # ORM calls here (fixture teardown included). Scoped to this test: a process-wide
    # setting would leak into `check --deploy` in other tests.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (make browser installs it)")
    from playwright.sync_api import expect, sync_playwright

    ana, campaign = _sample_data()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{live_server.url}/")
            expect(page).to_have_url(f"{live_server.url}/login/?next=/")
            page.screenshot(path=ARTIFACTS / "login.png")
            page.fill("#id_username", "demo")
            page.fill("#id_password", "pw-for-tests-1")
            page.click("button[type=submit]")
            expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
            expect(page.get_by_text("Yes! Count me in for Saturday.")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)

            page.goto(f"{live_server.url}/contacts/")
            page.fill("#contact-search", "port")
            expect(page.locator("#contact-table")).not_to_contain_text("Ben Brooks")
            expect(page.locator("#contact-table")).to_contain_text("Ana Alvarez")
            page.screenshot(path=ARTIFACTS / "contacts-search.png", full_page=True)
            page.goto(f"{live_server.url}/settings/")
            page.screenshot(path=ARTIFACTS / "settings.png", full_page=True)
            page.goto(f"{live_server.url}/campaigns/{campaign.pk}/dashboard/")
            page.screenshot(path=ARTIFACTS / "campaign-dashboard.png", full_page=True)

            phone = browser.new_page(viewport=PHONE, storage_state=page.context.storage_state())
            phone.goto(f"{live_server.url}/")
            phone.screenshot(path=ARTIFACTS / "phone-dashboard.png", full_page=True)
            phone.goto(f"{live_server.url}/campaigns/{campaign.pk}/status/")
            expect(phone.get_by_role("link", name="Status")).to_be_visible()
            phone.screenshot(path=ARTIFACTS / "phone-campaign-status.png", full_page=True)
            phone.goto(f"{live_server.url}/contacts/")
            phone.screenshot(path=ARTIFACTS / "phone-contacts.png", full_page=True)
            phone.goto(f"{live_server.url}/contacts/{ana.pk}/")
            expect(phone.get_by_role("heading", name="Ana Alvarez")).to_be_visible()
            phone.screenshot(path=ARTIFACTS / "phone-contact-detail.png", full_page=True)
            phone.click("label[for=nav-toggle]")
            expect(phone.locator(".sidenav")).to_be_visible()
            phone.screenshot(path=ARTIFACTS / "phone-menu-open.png")
        finally:
            browser.close()
