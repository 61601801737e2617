"""The audit trail export: everything the account holds on one phone number, as JSON
and CSV, for admins and managers only; and the per-account keyword confirmation texts
(Settings page rules, and the text the simulated carrier actually receives)."""

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account
from compliance.consent import consent_record
from compliance.models import DncEntry
from providers.models import SimulatorMessage
from tests.factories import api_client, make_contact, make_member, make_number
from tests.inbound import text_in
from tests.sending import drain
from texting.models import Campaign, CampaignStatus, Message, MessageStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_dispatch_state")]

OURS = "+19715550901"
ANA = "+15035550911"
ANA_TYPED = "(503) 555-0911"


@pytest.fixture(autouse=True)
def quiet_simulator(settings):
    settings.SIMULATOR_WEBHOOK_URL = "http://webhooks.invalid/webhooks/telnyx/"
    settings.SIMULATOR_LATENCY_MS = 0
    settings.SIMULATOR_RECEIPT_DELAY_MS = 0
    settings.PROVIDER = "simulator"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def history(account, admin_user, other_account):
    """Ana's story: signed up on a form, got a campaign text, replied STOP (and got the
    confirmation), and was put on the DNC list. Plus another account's data on the same
    phone, which must not leak."""
    make_number(account, OURS, mps=50)
    ana = make_contact(account, ANA, sms_status="none", first_name="Ana")
    consent_record(
        contact=ana,
        source_type="form",
        source_ref="https://alpha.example/join",
        consent_language="Yes, text me. Reply STOP to opt out.",
        ip="198.51.100.4",
        actor=admin_user,
    )
    gotv = Campaign.objects.create(
        account=account, name="GOTV", body="=Vote Tuesday!", status=CampaignStatus.SENDING
    )
    Message.objects.create(
        account=account,
        campaign=gotv,
        contact=ana,
        from_number=OURS,
        to_number=ANA,
        body="=Vote Tuesday!",
        status=MessageStatus.DELIVERED,
        send_after=timezone.now(),
        sent_at=timezone.now(),
        delivered_at=timezone.now(),
        provider_message_id="prov-1",
    )
    text_in(ANA, OURS, "STOP")
    DncEntry.objects.create(account=account, phone=ANA, reason="manual", note="asked by phone")

    theirs = make_contact(other_account, ANA, first_name="Secret")
    consent_record(
        contact=theirs, source_type="manual", source_ref="their-ref", consent_language="x"
    )
    DncEntry.objects.create(account=other_account, phone=ANA, reason="spam", note="their-note")
    return ana, gotv


def test_json_holds_every_kind_of_record_for_the_phone(admin_api, history):
    ana, gotv = history
    response = admin_api.get("/api/v1/audit-trail/", {"phone": ANA_TYPED, "format": "json"})
    assert response.status_code == 200
    trail = response.json()
    assert (trail["phone"], trail["contact"]["id"]) == (ANA, ana.pk)

    assert [(c["action"], c["source_type"]) for c in trail["consents"]] == [
        ("opt_in", "form"),
        ("opt_out", "keyword"),
    ]
    assert trail["consents"][0]["ip"] == "198.51.100.4"
    assert trail["consents"][0]["recorded_by"] == "alice"

    by_direction = {(m["direction"], m["body"]) for m in trail["messages"]}
    assert ("outbound", "=Vote Tuesday!") in by_direction
    assert ("inbound", "STOP") in by_direction
    campaign_message = next(m for m in trail["messages"] if m["body"] == "=Vote Tuesday!")
    assert (campaign_message["campaign_id"], campaign_message["status"]) == (gotv.pk, "delivered")
    assert any(m["kind"] == "opt_out_confirmation" for m in trail["messages"])

    assert {e["type"] for e in trail["events"]} == {"sms_opt_in", "sms_opt_out"}
    assert [(d["reason"], d["note"]) for d in trail["dnc"]] == [("manual", "asked by phone")]
    assert [a["action"] for a in trail["audit"]] == ["consent_opt_in", "consent_opt_out"]
    assert "Secret" not in response.content.decode()
    assert "their-" not in response.content.decode()


def test_csv_has_a_row_for_each_kind_oldest_first(admin_api, history):
    response = admin_api.get("/api/v1/audit-trail/", {"phone": ANA, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["record"] for r in rows} == {"consent", "message", "event", "dnc", "audit"}
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    consent = next(r for r in rows if r["record"] == "consent" and r["action"] == "opt_in")
    assert (consent["source_ref"], consent["ip"]) == ("https://alpha.example/join", "198.51.100.4")
    bodies = [r["body"] for r in rows if r["record"] == "message"]
    assert "'=Vote Tuesday!" in bodies  # a body cannot become a spreadsheet formula
    assert "STOP" in bodies
    assert "their-" not in response.content.decode()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"phone": "not a phone"}, "phone"),
        ({}, "phone"),
        ({"phone": ANA, "format": "xml"}, "format"),
    ],
)
def test_bad_requests_name_the_field(admin_api, params, field):
    response = admin_api.get("/api/v1/audit-trail/", params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    ("role", "allowed"), [("manager", True), ("field", False), ("viewer", False)]
)
def test_only_admins_and_managers_export(account, history, role, allowed):
    client = api_client(make_member(account, role), account)
    response = client.get("/api/v1/audit-trail/", {"phone": ANA})
    assert response.status_code == (200 if allowed else 403)


def test_the_contact_page_links_the_export_for_those_who_may(account, admin_user, history):
    ana, _ = history
    admin = Client()
    admin.force_login(admin_user)
    page = admin.get(reverse("contact-detail", args=[ana.pk])).content.decode()
    assert "Audit trail" in page
    assert "/api/v1/audit-trail/?phone=%2B15035550911&amp;format=csv" in page
    # The link works from the browser session.
    assert admin.get("/api/v1/audit-trail/", {"phone": ANA, "format": "csv"}).status_code == 200

    viewer = Client()
    viewer.force_login(make_member(account, "viewer"))
    assert (
        "Audit trail" not in viewer.get(reverse("contact-detail", args=[ana.pk])).content.decode()
    )


# --- Per-account keyword texts --------------------------------------------------------


def test_the_simulator_receives_the_accounts_own_stop_confirmation(account):
    account.opt_out_confirmation = (
        "Alpha for Oregon: you're unsubscribed, no more texts. Reply START to rejoin."
    )
    account.save(update_fields=["opt_out_confirmation"])
    make_number(account, OURS, mps=50)
    make_contact(account, ANA)

    text_in(ANA, OURS, "STOP")
    drain(OURS)

    sent = SimulatorMessage.objects.filter(to_number=ANA)
    assert [s.text for s in sent] == [account.opt_out_confirmation]


@pytest.mark.parametrize(
    ("field", "text", "error"),
    [
        ("opt_out_confirmation", "", "This field is required"),
        (
            "opt_out_confirmation",
            "Thanks! Big sale this weekend.",
            "must say the number is unsubscribed",
        ),
        (
            "opt_out_confirmation",
            "Unsubscribed. See alpha.example/deals https://x.co/1",
            "may not contain a link",
        ),
        ("opt_out_confirmation", "Unsubscribed." + "!" * 320, "at most 320"),
        (
            "opt_in_confirmation",
            "You're in! Msg & data rates may apply.",
            "must say how to opt out",
        ),
    ],
)
def test_settings_refuses_keyword_texts_that_break_the_rules(
    account, admin_user, field, text, error
):
    web = Client()
    web.force_login(admin_user)
    form = web.get(reverse("account-settings")).context["form"]
    data = {name: form.initial.get(name) for name in form.fields}
    data["quiet_hours_start"], data["quiet_hours_end"] = "21:00", "08:00"
    data[field] = text
    response = web.post(reverse("account-settings"), data)
    assert response.status_code == 200
    assert error in response.content.decode().replace("&#x27;", "'")
    assert getattr(Account.objects.get(pk=account.pk), field) == getattr(account, field)


def test_settings_saves_new_keyword_texts(account, admin_user):
    web = Client()
    web.force_login(admin_user)
    form = web.get(reverse("account-settings")).context["form"]
    data = {name: form.initial.get(name) for name in form.fields}
    data["quiet_hours_start"], data["quiet_hours_end"] = "21:00", "08:00"
    data["opt_out_confirmation"] = "Alpha: you've opted out and will get no more texts."
    data["opt_in_confirmation"] = (
        "Alpha: you're in. Msg & data rates may apply. Reply STOP to quit."
    )
    response = web.post(reverse("account-settings"), data)
    assert response.status_code == 302
    saved = Account.objects.get(pk=account.pk)
    assert saved.opt_out_confirmation == data["opt_out_confirmation"]
    assert saved.opt_in_confirmation == data["opt_in_confirmation"]
