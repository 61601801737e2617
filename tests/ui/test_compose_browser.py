"""Issue 5's walk in a real browser: compose a message with a merge field, a link and an
emoji and watch the counter switch to UCS-2; pick a Tribe on the Recipients tab and see
the eligibility numbers; reach the Tech Check with every check passing."""

from pathlib import Path

import pytest

from contacts.models import Tribe
from tests.factories import make_account, make_campaign, make_contact, make_member, make_number
from tests.ui.test_browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS
from texting.models import Campaign

BODY = "Hi {first_name|there}! Rally at 6pm: https://vote.example.org/rally"


@pytest.mark.browser
@pytest.mark.usefixtures("daytime_recipients")
def test_compose_pick_a_tribe_and_reach_tech_check(live_server, transactional_db, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop; see test_browser
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (make browser installs it)")
    from playwright.sync_api import expect, sync_playwright

    account = make_account("compose", name="Compose for Oregon")
    make_member(account, "admin", "cora")
    sender = make_number(account, "+19715550901")
    for phone, name in (("+15035550901", "Ana"), ("+15035550902", "Ben"), ("+15035550903", "")):
        make_contact(account, phone, first_name=name, city="Portland")
    make_contact(account, "+15035550904", first_name="Dee", city="Portland", sms_status="opted_out")
    make_contact(account, "+15035550905", first_name="Eve", city="Salem")
    Tribe.objects.create(
        account=account,
        name="Portland supporters",
        filter={"all": [{"field": "city", "op": "eq", "value": "Portland"}]},
    )
    campaign = make_campaign(account, "Rally")
    Campaign.objects.filter(pk=campaign.pk).update(sender_ids=[sender.pk])

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{live_server.url}/login/")
            page.fill("#id_username", "cora")
            page.fill("#id_password", "pw-for-tests-1")
            page.click("button[type=submit]")

            # Compose: GSM-7 until the emoji, then UCS-2 with the emoji named.
            page.goto(f"{live_server.url}/campaigns/{campaign.pk}/compose/")
            body = page.locator("#compose-body")
            body.fill(BODY)
            counter = page.locator("#compose-counter")
            expect(counter.locator("[data-encoding]")).to_have_text("GSM-7")
            body.press("End")
            body.press_sequentially(" 🎉")
            expect(counter.locator("[data-encoding]")).to_have_text("UCS-2")
            expect(counter.locator("[data-forced]")).to_contain_text("🎉")
            expect(counter.locator("[data-bubble]")).to_contain_text("Reply STOP to opt out.")
            page.screenshot(path=ARTIFACTS / "compose-ucs2.png", full_page=True)
            page.get_by_role("button", name="Save message").click()
            page.wait_for_load_state()

            # Recipients: pick the Tribe, use it, see who is eligible and why not.
            page.goto(f"{live_server.url}/campaigns/{campaign.pk}/recipients/")
            page.fill("#tribe-picker-q", "portl")
            page.locator("[data-tribe-id]", has_text="Portland supporters").click()
            picked = page.locator("#tribe-picker-selected")
            expect(picked.locator('[data-count="members"]')).to_have_text("4")
            expect(picked.locator('[data-count="eligible"]')).to_have_text("3")
            picked.get_by_role("button", name="Use this Tribe as the audience").click()
            expect(page.get_by_text("The audience is set.")).to_be_visible()
            page.goto(f"{live_server.url}/campaigns/{campaign.pk}/recipients/")
            audit = page.locator("#campaign-audit")
            expect(audit.locator('[data-audit="total"]')).to_have_text("4")
            expect(audit.locator('[data-audit="eligible"]')).to_have_text("3")
            expect(audit.locator('[data-reason="opted_out"]')).to_contain_text("1")
            page.screenshot(path=ARTIFACTS / "recipients-eligibility.png", full_page=True)

            # Tech Check: every check passes; the samples are rendered per recipient.
            page.goto(f"{live_server.url}/campaigns/{campaign.pk}/tech-check/")
            checks = page.locator("[data-check]")
            expect(checks.first).to_be_visible()
            expect(page.locator('[data-check][data-ok="false"]')).to_have_count(0)
            expect(page.locator(".samples .bubble").first).to_contain_text("Hi ")
            expect(page.locator("[data-final-body]")).to_contain_text("Reply STOP to opt out.")
            page.screenshot(path=ARTIFACTS / "compose-techcheck.png", full_page=True)
        finally:
            browser.close()
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert campaign.body == BODY + " 🎉"
    assert campaign.audience == {"tribe_id": Tribe.objects.get(account=account).pk}
