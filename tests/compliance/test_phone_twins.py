"""One phone, one contact, one opt-out (issue 14, item 1).

A number typed with a non-ASCII digit (`503-5５5-0189`) used to become a second contact,
`+15035５50189`, which escaped the real number's STOP and DNC entry: it was opted in,
counted eligible, committed and delivered. Here the real number replies STOP through the
inbound webhook path and goes on the DNC list; then every other spelling, through every
way in (contacts API, CSV import, paste, DNC API, inbound webhook, simulator API),
resolves to that same contact and entry, and a campaign sends it nothing. Real
PostgreSQL, Redis and the carrier simulator."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from compliance.models import DncEntry
from contacts import imports
from contacts.models import Contact, SmsStatus
from contacts.tasks import import_contacts
from providers.models import SimulatorMessage
from tests.factories import api_client, make_account, make_contact, make_member, make_number
from tests.inbound import text_in
from tests.phone_spellings import typed
from tests.providers.conftest import quiet_simulator  # noqa: F401
from tests.sending import drain
from texting.models import Message

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_dispatch_state")]

OURS = "+19715550861"
REAL = "+15035550189"
TWIN = "503-5５5-0189"  # the issue's spelling: one full-width digit
BEN = "+15035550190"


@pytest.fixture
def world():
    """Ana's real number has replied STOP (through the inbound webhook path) and is on
    the DNC list; Ben is opted in."""
    account = make_account(
        "twins", help_text="Twins for Oregon: help@twins.example. Reply STOP to opt out."
    )
    make_number(account, OURS, mps=50)
    admin = api_client(make_member(account, "admin"), account)
    created = admin.post("/api/v1/contacts/", {"phone": "(503) 555-0189"}, format="json")
    assert created.status_code == 201, created.json()
    ana = Contact.objects.get(pk=created.json()["id"])
    Contact.objects.filter(pk=ana.pk).update(sms_status=SmsStatus.OPTED_IN)
    text_in(REAL, OURS, "STOP")
    assert admin.post("/api/v1/dnc/", {"phone": REAL}, format="json").status_code == 201
    ana.refresh_from_db()
    assert ana.sms_status == SmsStatus.OPTED_OUT
    ben = make_contact(account, BEN, first_name="Ben")
    return account, admin, ana, ben


def only_ana(account, ana) -> None:
    """Still one contact and one DNC entry for Ana's number, still opted out."""
    assert list(Contact.objects.filter(account=account).exclude(phone=BEN)) == [ana]
    ana.refresh_from_db()
    assert (ana.phone, ana.sms_status) == (REAL, SmsStatus.OPTED_OUT)
    assert list(DncEntry.objects.filter(account=account).values_list("phone", flat=True)) == [REAL]


def test_the_issues_twin_through_every_way_in_is_the_same_opted_out_contact(world):
    account, admin, ana, ben = world

    # Contacts API: the same contact, updated (200), not a new one (201).
    res = admin.post("/api/v1/contacts/", {"phone": TWIN, "first_name": "Ana"}, format="json")
    assert res.status_code == 200, res.json()
    assert (res.json()["id"], res.json()["phone"]) == (ana.pk, REAL)
    assert res.json()["sms_status"] == SmsStatus.OPTED_OUT

    # CSV import: the row updates Ana.
    csv = f"phone,first_name,last_name\n{TWIN},Ana,Alvarez\n５０３ ５５５ ０１８９,Ana,A\n"
    imp = imports.import_create(account=account, actor=None, data=csv.encode())
    import_contacts(imp.pk)
    imp.refresh_from_db()
    assert (imp.status, imp.created, imp.updated, imp.duplicates) == ("done", 0, 1, 1)

    # Paste: full-width comma and ideographic space included.
    pasted = imports.paste_import(
        account=account, actor=None, text=f"{TWIN}，503\u3000555\u30000189", tribe_name=""
    )
    assert (pasted.created, pasted.updated, pasted.invalid) == (0, 1, 0)

    # DNC API: already listed, the same entry.
    again = admin.post("/api/v1/dnc/", {"phone": TWIN}, format="json")
    assert again.status_code == 200 and again.json()["phone"] == REAL

    # DNC CSV import: already listed, nothing added.
    upload = SimpleUploadedFile(
        "dnc.csv", f"Phone\n{TWIN}\n+1 ５０３ ５５５ ０１８９\n".encode(), content_type="text/csv"
    )
    res = admin.post("/api/v1/dnc/import/", {"file": upload}, format="multipart")
    assert res.status_code == 200, res.json()
    assert (res.json()["added"], res.json()["already_listed"]) == (0, 1), res.json()

    # Inbound webhook from another spelling, and the simulator's inbound API.
    text_in("+1５0３٥٥5０１８９", OURS, "hello?")
    res = admin.post(
        "/api/v1/simulator/inbound/", {"from": TWIN, "to": OURS, "text": "hi"}, format="json"
    )
    assert res.status_code in (200, 201, 202), res.json()

    only_ana(account, ana)
    # Searches by digits in any script find the stored ASCII digits.
    found = admin.get("/api/v1/contacts/", {"q": "５５５-０１８９"}).json()
    assert [c["id"] for c in found["results"]] == [ana.pk]
    assert admin.get("/api/v1/dnc/", {"q": "５５５٠١٨٩"}).json()["count"] == 1

    # A campaign to both spellings and Ben: Ana is excluded, Ben alone is sent to.
    created = admin.post(
        "/api/v1/campaigns/",
        {
            "name": "GOTV",
            "body": "Polls close at 8!",
            "sender_ids": [account.phone_numbers.get(e164=OURS).pk],
            "audience": {"phones": [TWIN, "５０３-５５５-０１８９", REAL, BEN]},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    campaign_id = created.json()["id"]
    audit = admin.get(f"/api/v1/campaigns/{campaign_id}/audit/").json()
    assert audit["eligible"] == 1, audit
    committed = admin.post(f"/api/v1/campaigns/{campaign_id}/commit/", {}, format="json")
    assert committed.status_code == 200, committed.json()
    drain(OURS)
    assert list(
        Message.objects.filter(campaign_id=campaign_id).values_list("to_number", flat=True)
    ) == [BEN]
    assert SimulatorMessage.objects.filter(to_number=BEN).count() == 1
    # Only the one STOP confirmation ever went to Ana's number, in any spelling.
    to_ana = SimulatorMessage.objects.exclude(to_number=BEN).values_list("to_number", flat=True)
    assert set(to_ana) <= {REAL}
    assert (
        Message.objects.filter(account=account, to_number=REAL, campaign__isnull=False).count() == 0
    )


@settings(
    max_examples=12,
    deadline=None,
    # The database keeps what each example did: no shrinking (replays would differ).
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_spelling_finds_the_same_contact_and_dnc_entry(world, data):
    account, admin, ana, _ = world
    spelled = data.draw(typed("5035550189"))
    res = admin.post("/api/v1/contacts/", {"phone": spelled}, format="json")
    assert res.status_code == 200 and res.json()["id"] == ana.pk, (spelled, res.json())
    listed = admin.post("/api/v1/dnc/", {"phone": data.draw(typed("5035550189"))}, format="json")
    assert listed.status_code == 200, listed.json()
    found = admin.get("/api/v1/contacts/", {"phone": data.draw(typed("5035550189"))}).json()
    assert [c["id"] for c in found["results"]] == [ana.pk]
    only_ana(account, ana)


def test_the_database_refuses_a_non_ascii_phone(world):
    from django.db import IntegrityError, transaction

    account, *_ = world
    for model, extra in ((Contact, {"timezone": "UTC"}), (DncEntry, {"reason": "manual"})):
        with pytest.raises(IntegrityError), transaction.atomic():
            model.objects.create(account=account, phone="+15035５50189", **extra)
