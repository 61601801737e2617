"""The data migration of issue 14 (contacts 0005): contacts and DNC entries stored with
non-ASCII digits before the fix are rewritten; a twin of an existing contact is merged
into it with everything it had, the real number's opt-out and DNC entry win, and the
database then holds only ASCII E.164. The rows are made as the old code made them (a
raw UPDATE to the spelling it stored), with the new check constraints lifted for the
test's transaction."""

from importlib import import_module

import pytest
from django.db import connection
from django.utils import timezone

from compliance.models import AuditEntry, ConsentRecord, DncEntry
from compliance.suppression import dnc_add
from contacts.imports import list_tribe_for
from contacts.models import Contact, EngagementEvent, SmsStatus, TribeMember
from conversations.models import Conversation
from tests.factories import api_client, make_contact, make_event, make_member, make_number
from tests.inbound import text_in
from texting.models import Campaign, CampaignStatus, Direction, Message, MessageStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("daytime_recipients")]

migration = import_module("contacts.migrations.0005_phones_ascii_e164")

OURS, OURS_2 = "+19715550871", "+19715550872"
REAL = "+15035550189"
TWIN = "+15035５50189"  # what the old parser stored for `503-5５5-0189`
LONE, LONE_ASCII = "+1٩٧١٥٥٥٠١٢٣", "+19715550123"  # no ASCII twin: renamed
DNC_TWIN = "+1５０３５５５０１８９"  # a listed number's twin on the DNC list: dropped
DNC_LONE, DNC_LONE_ASCII = "+1５０３５５５０１９９", "+15035550199"


@pytest.fixture(autouse=True)
def constraints_lifted():
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute("ALTER TABLE contacts_contact DROP CONSTRAINT contact_phone_ascii_e164")
        cur.execute("ALTER TABLE compliance_dncentry DROP CONSTRAINT dnc_phone_ascii_e164")


def stored_as(model, pk: int, phone: str) -> None:
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {model._meta.db_table} SET phone = %s WHERE id = %s", [phone, pk])


def campaign(account, name: str) -> Campaign:
    return Campaign.objects.create(
        account=account, name=name, body="Hi", status=CampaignStatus.SENDING
    )


def message(account, contact, phone, **fields) -> Message:
    fields.setdefault("from_number", OURS)
    fields.setdefault("to_number", phone)
    return Message.objects.create(
        account=account, contact=contact, body="Hi", send_after=timezone.now(), **fields
    )


def test_twins_are_merged_into_the_real_contact_whose_opt_out_and_dnc_win(account):
    make_number(account, OURS, mps=50)
    make_number(account, OURS_2, mps=50)
    admin = api_client(make_member(account, "admin"), account)
    # The real number: replied STOP (the inbound path), then put on the DNC list.
    ana = make_contact(account, REAL, first_name="Ana")
    text_in(REAL, OURS, "STOP")
    dnc_add(account=account, phone=REAL, reason="manual")
    # Its twin, as the old code made it: opted in through the API, on lists, in threads,
    # sent to.
    twin = make_contact(
        account,
        "+15035550000",
        sms_status=SmsStatus.NONE,
        last_name="Alvarez",
        custom_fields={"precinct": "12"},
    )
    stored_as(Contact, twin.pk, TWIN)
    consented = admin.post(
        f"/api/v1/contacts/{twin.pk}/consents/",
        {"source_type": "manual", "source_ref": "phone call"},
        format="json",
    )
    assert consented.status_code == 201, consented.json()
    both = list_tribe_for(account=account, name="Both", actor=None)
    twin_only = list_tribe_for(account=account, name="Twin only", actor=None)
    TribeMember.objects.create(tribe=both, contact=ana)
    TribeMember.objects.create(tribe=both, contact=twin)
    TribeMember.objects.create(tribe=twin_only, contact=twin)
    make_event(twin, "sms_received", at=timezone.now(), data={"text": "hey"})
    real_thread = Conversation.objects.get(account=account, contact=ana, our_number=OURS)
    unread_before = real_thread.unread
    Conversation.objects.create(
        account=account, contact=twin, phone=TWIN, our_number=OURS, unread=2, tags=["vip"]
    )
    other_thread = Conversation.objects.create(
        account=account, contact=twin, phone=TWIN, our_number=OURS_2
    )
    gotv, reminder = campaign(account, "GOTV"), campaign(account, "Reminder")
    message(account, ana, REAL, campaign=gotv, status=MessageStatus.DELIVERED)
    sent_twice = message(account, twin, TWIN, campaign=gotv, status=MessageStatus.DELIVERED)
    waiting = message(account, twin, TWIN, campaign=reminder, status=MessageStatus.QUEUED)
    inbound = message(
        account,
        twin,
        TWIN,
        direction=Direction.INBOUND,
        from_number=TWIN,
        to_number=OURS,
        status=MessageStatus.RECEIVED,
    )
    # A lone non-ASCII contact, and two DNC entries spelled the old way.
    lone = make_contact(account, "+19715550000")
    stored_as(Contact, lone.pk, LONE)
    stored_as(
        DncEntry, dnc_add(account=account, phone="+15035550001", reason="manual")[0].pk, DNC_TWIN
    )
    stored_as(
        DncEntry, dnc_add(account=account, phone="+15035550002", reason="import")[0].pk, DNC_LONE
    )

    counts = migration.phones_to_ascii(connection)

    assert counts == {"renamed": 1, "merged": 1, "dnc_renamed": 1, "dnc_dropped": 1}
    assert not Contact.objects.filter(pk=twin.pk).exists()
    ana.refresh_from_db()
    assert (ana.phone, ana.sms_status) == (REAL, SmsStatus.OPTED_OUT)  # the STOP wins
    assert (ana.first_name, ana.last_name, ana.custom_fields) == (
        "Ana",
        "Alvarez",
        {"precinct": "12"},
    )
    assert sorted(DncEntry.objects.filter(account=account).values_list("phone", flat=True)) == [
        REAL,
        DNC_LONE_ASCII,
    ]
    # Everything the twin had is Ana's now, under the ASCII phone.
    assert ConsentRecord.objects.filter(contact=ana, phone=REAL, source_type="manual").count() == 1
    assert EngagementEvent.objects.filter(contact=ana, data__text="hey").count() == 1
    assert sorted(
        TribeMember.objects.filter(contact=ana).values_list("tribe__name", flat=True)
    ) == [
        "Both",
        "Twin only",
    ]
    real_thread.refresh_from_db()
    assert (real_thread.unread, real_thread.tags) == (unread_before + 2, ["vip"])
    other_thread.refresh_from_db()
    assert (other_thread.contact_id, other_thread.phone) == (ana.pk, REAL)
    assert Conversation.objects.filter(account=account, contact=ana).count() == 2
    sent_twice.refresh_from_db()
    waiting.refresh_from_db()
    inbound.refresh_from_db()
    assert (sent_twice.contact_id, sent_twice.to_number, sent_twice.campaign_id) == (
        ana.pk,
        REAL,
        None,
    )
    assert (waiting.contact_id, waiting.to_number, waiting.campaign_id) == (
        ana.pk,
        REAL,
        reminder.pk,
    )
    assert (inbound.contact_id, inbound.from_number) == (ana.pk, REAL)
    assert Message.objects.filter(campaign=gotv).count() == 1
    # Visible: the audit trail names the old spelling and the merged contact.
    merged = AuditEntry.objects.get(account=account, action="phone_twin_merged")
    assert (merged.phone, merged.contact_id) == (REAL, ana.pk)
    assert merged.data == {"old": TWIN, "new": REAL, "merged_contact_id": twin.pk}
    lone.refresh_from_db()
    assert lone.phone == LONE_ASCII
    assert AuditEntry.objects.filter(action="phone_normalized", contact_id=lone.pk).exists()

    # Nothing non-ASCII is left, the constraints hold again, and a second run is a no-op.
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(
            "ALTER TABLE contacts_contact ADD CONSTRAINT contact_phone_ascii_e164"
            " CHECK (phone ~ %s)".replace("%s", f"'{migration.E164_PATTERN}'")
        )
        cur.execute(
            "ALTER TABLE compliance_dncentry ADD CONSTRAINT dnc_phone_ascii_e164"
            " CHECK (phone ~ %s)".replace("%s", f"'{migration.E164_PATTERN}'")
        )
    for model in (ConsentRecord, AuditEntry, Conversation):
        assert (
            not model.objects.filter(account=account)
            .exclude(phone__regex=migration.E164_PATTERN)
            .exists()
        )
    assert migration.phones_to_ascii(connection) == dict.fromkeys(counts, 0)

    # And Ana is not in a new campaign's eligible audience, in any spelling.
    created = admin.post(
        "/api/v1/campaigns/",
        {
            "name": "After",
            "body": "Hi",
            "sender_ids": [account.phone_numbers.get(e164=OURS).pk],
            "audience": {"contact_ids": [ana.pk]},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    audit = admin.get(f"/api/v1/campaigns/{created.json()['id']}/audit/").json()
    assert audit["eligible"] == 0, audit


def test_a_clean_database_is_left_as_it_is(account):
    make_contact(account, REAL)
    dnc_add(account=account, phone=REAL, reason="manual")
    assert migration.phones_to_ascii(connection) == {
        "renamed": 0,
        "merged": 0,
        "dnc_renamed": 0,
        "dnc_dropped": 0,
    }
    assert not AuditEntry.objects.filter(action__startswith="phone_").exists()
