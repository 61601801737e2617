"""The filter builder and the Tribe picker in a real browser: build a filter row by row,
preview its counts, create the Tribe; on a campaign's Recipients tab, search the picker,
see a Tribe's counts on select, use it as the audience."""

from pathlib import Path

import pytest

from contacts.models import Tribe
from tests.factories import make_account, make_campaign, make_contact, make_member
from tests.ui.test_browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS


@pytest.mark.browser
def test_build_a_tribe_and_pick_it_for_a_campaign(live_server, transactional_db, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop; see test_browser
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (make browser installs it)")
    from playwright.sync_api import expect, sync_playwright

    account = make_account("tribes", name="Tribes for Oregon")
    make_member(account, "admin", "tara")
    make_contact(account, "+15035550601", first_name="Ana", city="Portland")
    make_contact(account, "+15035550602", first_name="Ben", city="Portland", sms_status="none")
    make_contact(account, "+15035550603", first_name="Cy", city="Salem")
    campaign = make_campaign(account, "Canvass")

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{live_server.url}/login/")
            page.fill("#id_username", "tara")
            page.fill("#id_password", "pw-for-tests-1")
            page.click("button[type=submit]")
            page.goto(f"{live_server.url}/tribes/new/")
            page.fill("#tribe-name", "Portlanders")
            row = page.locator("[data-fb-row]").first
            row.locator("[data-fb-field]").select_option("city")
            row.locator("[data-fb-op]").select_option("eq")
            row.locator("[data-fb-value]").fill("portland")
            page.click("[data-fb-preview]")
            preview = page.locator("[data-fb-preview-out]")
            expect(preview.locator('[data-count="members"]')).to_have_text("2")
            expect(preview.locator('[data-count="eligible"]')).to_have_text("1")
            page.screenshot(path=ARTIFACTS / "tribe-builder.png", full_page=True)
            page.click("form[data-form=tribe] button[type=submit]")
            expect(page.get_by_role("heading", name="Portlanders")).to_be_visible()

            page.goto(f"{live_server.url}/campaigns/{campaign.pk}/recipients/")
            page.fill("#tribe-picker-q", "portl")
            page.locator("[data-tribe-id]", has_text="Portlanders").click()
            picked = page.locator("#tribe-picker-selected")
            expect(picked.locator('[data-count="members"]')).to_have_text("2")
            expect(picked.locator('[data-count="eligible"]')).to_have_text("1")
            page.screenshot(path=ARTIFACTS / "recipients-tribe-picker.png", full_page=True)
            picked.get_by_role("button", name="Use this Tribe as the audience").click()
            expect(page.get_by_text("The audience is set.")).to_be_visible()
        finally:
            browser.close()
    # (The ORM only outside Playwright's loop: inside it Django would open a connection
    # of its own that nobody closes.)
    tribe = Tribe.objects.get(account=account, name="Portlanders")
    assert tribe.filter == {"all": [{"field": "city", "op": "eq", "value": "portland"}]}
    campaign.refresh_from_db()
    assert campaign.audience == {"tribe_id": tribe.pk}
