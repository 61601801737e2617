"""The do-not-contact list: adding (any typed form, idempotent, audited), removing,
importing a CSV, marking a contact as spam, carrier refusals; and that a listed number
gets nothing, whatever the path: campaign commit, messages already waiting, the
dispatcher's final check and last-moment mark, keyword replies. Real PostgreSQL, Redis
and the carrier simulator."""

import datetime
import uuid
from decimal import Decimal

import pytest
import redis
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.models import AuditEntry, DncEntry
from compliance.suppression import (
    contact_mark_spam,
    dnc_add,
    dnc_import_csv,
    dnc_listed,
    dnc_remove,
)
from contacts.models import Contact, SmsStatus
from phone_numbers.models import PhoneNumber
from providers.models import SimulatorMessage
from providers.services import webhook_event_process, webhook_event_store
from providers.simulator import events
from tests.factories import api_client, make_account, make_contact, make_member, make_number
from tests.inbound import text_in
from tests.providers.conftest import quiet_simulator  # noqa: F401
from tests.sending import drain
from texting import dispatch
from texting.models import Campaign, CampaignStatus, Message, MessageKind, MessageStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_dispatch_state")]

OURS, THEIRS = "+19715550801", "+19715550899"
ANA, BEN = "+15035550811", "+15035550812"


@pytest.fixture
def world():
    account = make_account(
        "dnc", help_text="Dnc for Oregon: help@dnc.example. Reply STOP to opt out."
    )
    make_number(account, OURS, mps=50)
    return account, make_contact(account, ANA), make_contact(account, BEN)


def queued(account, contact, *, campaign=None, status=MessageStatus.QUEUED, **fields) -> Message:
    return Message.objects.create(
        account=account,
        campaign=campaign,
        contact=contact,
        from_number=fields.pop("from_number", OURS),
        to_number=contact.phone,
        body="Hi",
        status=status,
        send_after=timezone.now(),
        **fields,
    )


def sending_campaign(account, name="GOTV") -> Campaign:
    return Campaign.objects.create(
        account=account, name=name, body="Hi", status=CampaignStatus.SENDING
    )


def marked(account, phone: str) -> bool:
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    return bool(client.exists(f"{dispatch.DNC_MARK_PREFIX}{account.pk}:{phone}"))


# --- Adding and removing -------------------------------------------------------------


@pytest.mark.parametrize("typed", ["(503) 555-0811", "503.555.0811", "+15035550811", "5035550811"])
def test_a_phone_in_any_typed_form_is_listed_once_in_e164_and_audited(world, typed):
    account, ana, _ = world
    user = make_member(account, "manager")
    entry, created = dnc_add(
        account=account, phone=typed, reason="manual", note="asked", actor=user
    )
    assert created and entry.phone == ANA
    assert dnc_listed(account=account, phone=ANA)
    (audit,) = AuditEntry.objects.filter(account=account, phone=ANA)
    assert (audit.action, audit.actor, audit.contact_id) == ("dnc_added", user, ana.pk)
    assert audit.data == {"old": "not listed", "new": "listed", "reason": "manual", "note": "asked"}

    again, created = dnc_add(account=account, phone="503-555-0811", reason="spam")
    assert not created and again.pk == entry.pk and again.reason == "manual"
    assert DncEntry.objects.filter(account=account, phone=ANA).count() == 1
    assert AuditEntry.objects.filter(account=account, phone=ANA).count() == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"phone": "555-01"}, "phone"),
        ({"phone": ""}, "phone"),
        ({"phone": "hello"}, "phone"),
        ({"phone": ANA, "reason": "bored"}, "reason"),
        ({"phone": ANA, "note": "x" * 301}, "note"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(world, fields, field):
    account, _, _ = world
    with pytest.raises(ValidationError) as error:
        dnc_add(account=account, **{"reason": "manual", **fields})
    assert field in error.value.message_dict
    assert not DncEntry.objects.exists() and not AuditEntry.objects.exists()


def test_listing_is_per_account(world):
    account, _, _ = world
    other = make_account("dnc-other")
    dnc_add(account=other, phone=ANA, reason="manual")
    assert not dnc_listed(account=account, phone=ANA)
    assert dnc_listed(account=other, phone=ANA)


def test_removing_audits_old_and_new_and_clears_the_mark(world, django_capture_on_commit_callbacks):
    account, ana, _ = world
    user = make_member(account, "admin")
    queued(account, ana, status=MessageStatus.SENDING)  # claimed: its call gets the mark
    entry, _ = dnc_add(account=account, phone=ANA, reason="manual", note="asked by phone")
    assert marked(account, ANA)
    with django_capture_on_commit_callbacks(execute=True):
        assert dnc_remove(entry=entry, actor=user) is True
    assert not dnc_listed(account=account, phone=ANA)
    assert not marked(account, ANA)
    removed = AuditEntry.objects.get(account=account, phone=ANA, action="dnc_removed")
    assert (removed.actor, removed.contact_id) == (user, ana.pk)
    assert removed.data["old"] == "listed" and removed.data["new"] == "not listed"
    assert removed.data["reason"] == "manual" and removed.data["note"] == "asked by phone"
    assert dnc_remove(entry=entry, actor=user) is False  # already gone: nothing written
    assert AuditEntry.objects.filter(action="dnc_removed").count() == 1
    # Consent is untouched: removing an entry is not an opt-in.
    assert Contact.objects.get(pk=ana.pk).sms_status == SmsStatus.OPTED_IN


def test_the_audit_trail_cannot_be_rewritten(world):
    account, _, _ = world
    dnc_add(account=account, phone=ANA, reason="manual")
    with pytest.raises(Exception, match="append-only"):
        AuditEntry.objects.filter(account=account).update(action="edited")


def test_mark_spam_lists_the_contacts_phone_with_reason_spam(world):
    account, ana, _ = world
    user = make_member(account, "manager")
    entry, created = contact_mark_spam(contact=ana, actor=user)
    assert created and (entry.phone, entry.reason, entry.added_by) == (ANA, "spam", user)
    audit = AuditEntry.objects.get(account=account, phone=ANA)
    assert (audit.action, audit.data["reason"], audit.contact_id) == ("dnc_added", "spam", ana.pk)


# --- Listing stops what is already waiting ----------------------------------------------


def test_listing_cancels_that_phones_waiting_messages_like_a_stop_and_refunds(world):
    account, ana, ben = world
    gotv = sending_campaign(account)
    later = Campaign.objects.create(
        account=account, name="Later", body="Hi", status=CampaignStatus.SCHEDULED
    )
    balance = account.balance
    waiting = [
        queued(account, ana, campaign=gotv, charged=Decimal("0.0070")),
        queued(account, ana, campaign=later, status=MessageStatus.SCHEDULED),
        queued(account, ana),  # a one-to-one message
        # A DNC entry spares nothing: not even the replies a STOP lets through.
        queued(account, ana, kind=MessageKind.HELP_REPLY),
        queued(account, ana, kind=MessageKind.OPT_OUT_CONFIRMATION),
    ]
    claimed = queued(account, ana, status=MessageStatus.SENDING)  # its own final check
    bens = queued(account, ben, campaign=gotv)
    other = make_account("dnc-other")
    theirs = queued(other, make_contact(other, ANA), from_number=THEIRS)

    dnc_add(account=account, phone=ANA, reason="manual")

    for row in waiting:
        row.refresh_from_db()
        assert (row.status, row.error_reason, row.charged) == ("canceled", "dnc", None)
    account.refresh_from_db()
    assert account.balance == balance + Decimal("0.0070")
    for row in (bens, theirs):
        row.refresh_from_db()
        assert row.status == MessageStatus.QUEUED
    claimed.refresh_from_db()
    assert claimed.status == MessageStatus.SENDING
    # Only a phone with a claimed message is marked for the dispatcher's last look.
    assert marked(account, ANA) and not marked(account, BEN)


def test_a_message_queued_before_the_listing_never_reaches_the_carrier(world):
    account, ana, ben = world
    gotv = sending_campaign(account)
    to_ana, to_ben = queued(account, ana, campaign=gotv), queued(account, ben, campaign=gotv)
    dnc_add(account=account, phone="503 555 0811", reason="manual")
    drain(OURS)
    to_ana.refresh_from_db()
    to_ben.refresh_from_db()
    assert (to_ana.status, to_ben.status) == ("canceled", "sent")
    assert not SimulatorMessage.objects.filter(to_number=ANA).exists()
    assert SimulatorMessage.objects.filter(to_number=BEN).count() == 1


# --- Enforcement on every path ---------------------------------------------------------


def test_commit_leaves_listed_numbers_out_and_the_audit_counts_them(world):
    account, ana, ben = world
    client = api_client(make_member(account, "manager"), account)
    dnc_add(account=account, phone=ANA, reason="manual")
    created = client.post(
        "/api/v1/campaigns/",
        {
            "name": "GOTV",
            "body": "Polls close at 8!",
            "sender_ids": [account_number_id(account)],
            "audience": {"contact_ids": [ana.pk, ben.pk]},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    campaign_id = created.json()["id"]
    audit = client.get(f"/api/v1/campaigns/{campaign_id}/audit/").json()
    assert (audit["total"], audit["eligible"], audit["excluded"]) == (2, 1, {"dnc": 1})
    committed = client.post(f"/api/v1/campaigns/{campaign_id}/commit/", {}, format="json")
    assert committed.status_code == 200, committed.json()
    assert list(
        Message.objects.filter(campaign_id=campaign_id).values_list("to_number", flat=True)
    ) == [BEN]


def account_number_id(account) -> int:
    return PhoneNumber.objects.get(account=account, e164=OURS).pk


def test_a_message_claimed_before_the_listing_is_stopped_by_its_final_check(world):
    account, ana, _ = world
    claimed = queued(account, ana, campaign=sending_campaign(account))
    info = dispatch.sender_info([OURS])[OURS]
    rows = dispatch.claim(sender=OURS, limit=10, kind=info.kind)
    assert [r.id for r in rows] == [claimed.pk]  # `sending`: the listing cannot cancel it

    dnc_add(account=account, phone=ANA, reason="manual")
    redis.Redis.from_url(django_settings.REDIS_URL).delete(
        f"{dispatch.DNC_MARK_PREFIX}{account.pk}:{ANA}"
    )  # the final check alone must catch it (the mark is the next test's)

    booked, _ = dispatch.book(info, rows)
    batch, result = dispatch.prepare(info, booked)
    assert (batch.calls, result.canceled) == ([], 1)
    claimed.refresh_from_db()
    assert (claimed.status, claimed.error_reason, claimed.charged) == ("canceled", "dnc", None)
    assert not SimulatorMessage.objects.filter(to_number=ANA).exists()


def test_the_final_check_reads_the_dnc_list_for_a_whole_claim_in_one_statement(world):
    account, ana, ben = world
    gotv = sending_campaign(account)
    for contact in (ana, ben):
        queued(account, contact, campaign=gotv)
    DncEntry.objects.create(account=account, phone=ANA, reason="manual")  # no hook: raw row
    info = dispatch.sender_info([OURS])[OURS]
    rows = dispatch.claim(sender=OURS, limit=10, kind=info.kind)
    with CaptureQueriesContext(connection) as queries:
        messages, listed = dispatch.checked_messages([r.id for r in rows])
    assert len(queries) == 1
    assert {m.to_number for m in messages if m.pk in listed} == {ANA}


def test_a_message_checked_before_the_listing_does_not_go_after_it(world, settings):
    settings.SIMULATOR_LATENCY_MS = 0
    account, ana, _ = world
    checked = queued(account, ana, kind=MessageKind.HELP_REPLY)  # even a keyword reply
    info = dispatch.sender_info([OURS])[OURS]
    rows = dispatch.claim(sender=OURS, limit=10, kind=info.kind)
    booked, _ = dispatch.book(info, rows)
    batch, result = dispatch.prepare(info, booked)
    assert len(batch.calls) == 1 and result.canceled == 0  # passed: not listed yet

    dnc_add(account=account, phone=ANA, reason="spam")

    [(row_message, row, fire_at)] = batch.calls
    assert dispatch.call(batch, row_message, row, fire_at) == "canceled"
    checked.refresh_from_db()
    assert (checked.status, checked.error_reason, checked.charged) == ("canceled", "dnc", None)
    assert not SimulatorMessage.objects.filter(to_number=ANA).exists()


def test_a_listed_number_gets_no_keyword_reply(world):
    account, ana, ben = world
    dnc_add(account=account, phone=ANA, reason="manual")
    text_in(ANA, OURS, "HELP")
    text_in(ANA, OURS, "STOP")
    assert Contact.objects.get(pk=ana.pk).sms_status == SmsStatus.OPTED_OUT  # still applied
    assert not Message.objects.filter(to_number=ANA).exists()
    text_in(BEN, OURS, "HELP")  # a number not listed is answered as ever
    assert Message.objects.filter(to_number=BEN, kind=MessageKind.HELP_REPLY).count() == 1
    drain(OURS)
    assert not SimulatorMessage.objects.filter(to_number=ANA).exists()
    assert SimulatorMessage.objects.filter(to_number=BEN).count() == 1


# --- Carrier refusals --------------------------------------------------------------------

REFUSES = "+12025550110"  # simulator: rejected at the API, 40300 Blocked due to STOP message


def test_a_carrier_stop_block_puts_the_recipient_on_the_list(world):
    account, _, _ = world
    recipient = make_contact(account, REFUSES)
    gotv = sending_campaign(account)
    first = queued(account, recipient, campaign=gotv)
    drain(OURS)
    first.refresh_from_db()
    assert (first.status, first.error_code) == ("failed", "40300")
    entry = DncEntry.objects.get(account=account, phone=REFUSES)
    assert entry.reason == "complaint"
    assert entry.note == "Carrier error 40300: Blocked due to STOP message"
    assert AuditEntry.objects.get(account=account, phone=REFUSES).data["reason"] == "complaint"
    # Nothing is tried again: the next message to them is refused before the carrier.
    again = queued(account, recipient, campaign=sending_campaign(account, "Follow-up"))
    drain(OURS)
    again.refresh_from_db()
    assert (again.status, again.error_reason) == ("canceled", "dnc")
    assert SimulatorMessage.objects.filter(to_number=REFUSES).count() == 0  # never accepted


@pytest.mark.parametrize(("code", "listed"), [("40300", True), ("40002", False), ("40008", False)])
def test_a_final_receipt_lists_the_recipient_only_for_a_refusal_code(world, code, listed):
    """Telnyx answers 40300 at the API (the test above); a receipt that carries it is
    treated the same. Spam blocks (40002) judge the sender or content, not the recipient."""
    account, ana, _ = world
    provider_id = uuid.uuid4()
    message = queued(
        account,
        ana,
        campaign=sending_campaign(account),
        status=MessageStatus.SENT,
        provider_message_id=str(provider_id),
        sent_at=timezone.now() - datetime.timedelta(seconds=5),
    )
    sim = SimulatorMessage(
        id=provider_id,
        idempotency_key=str(uuid.uuid4()),
        from_number=OURS,
        to_number=ANA,
        text="Hi",
        parts=1,
        encoding="GSM-7",
        kind="long",
        accepted_at=timezone.now(),
        outcome="delivery_failed",
        error_code=code,
    )
    event_pk = webhook_event_store(envelope=events.message_finalized(sim))
    assert webhook_event_process(event_pk=event_pk) == "processed"
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", code)
    assert dnc_listed(account=account, phone=ANA) is listed


# --- CSV import ----------------------------------------------------------------------------


def test_import_finds_the_phone_column_and_reports_rows(world):
    account, _, _ = world
    user = make_member(account, "manager")
    dnc_add(account=account, phone=BEN, reason="manual")
    csv_bytes = (
        "\ufeffDo-not-contact export,,\n"  # a title line before the header, and a BOM
        "name,Mobile Phone,notes\n"
        "Ana,(503) 555-0811,called\n"
        "\n"  # blank lines are skipped (and keep their row number)
        "Ben,503.555.0812,already listed\n"
        "Cy,555-01,too short\n"
        "Di,,no phone\n"
        "Ana again,+15035550811,repeat\n"
        "Ed,+1 971 555 0820,\n"
    ).encode()
    result = dnc_import_csv(account=account, file=csv_bytes, actor=user, filename="list.csv")
    assert (result.rows, result.added, result.already_listed) == (6, 2, 1)
    assert (result.invalid, result.duplicates) == (2, 1)
    assert [e["row"] for e in result.errors] == [6, 7, 8]
    assert "555-01" in result.errors[0]["reason"]
    assert "No phone number" in result.errors[1]["reason"]
    assert "first on row 3" in result.errors[2]["reason"]
    added = DncEntry.objects.filter(account=account, reason="import")
    assert set(added.values_list("phone", flat=True)) == {ANA, "+19715550820"}
    assert {e.note for e in added} == {"Imported from list.csv"} and {
        e.added_by for e in added
    } == {user}
    audits = AuditEntry.objects.filter(account=account, action="dnc_added", data__reason="import")
    assert {(a.phone, a.contact_id, a.actor) for a in audits} == {
        (ANA, world[1].pk, user),
        ("+19715550820", None, user),
    }


def test_import_refuses_a_file_too_wide_naming_the_row_and_lists_nobody(world):
    account, _, _ = world
    wide = b"phone\n5035550811\n" + b"5035550812" + b",x" * 250 + b"\n"
    with pytest.raises(ValidationError) as error:
        dnc_import_csv(account=account, file=wide)
    assert error.value.message_dict["file"][0].startswith("Row 3 has 251 columns")
    assert not DncEntry.objects.exists()


def test_import_reads_windows_1252_and_a_plain_list_without_header(world):
    account, _, _ = world
    excel = "Teléfono;Nombre\n5035550811;José Núñez\n".encode("cp1252")
    # No column named phone and the first row is a header: nothing to go by.
    with pytest.raises(ValidationError) as error:
        dnc_import_csv(account=account, file=excel)
    assert "file" in error.value.message_dict
    assert not DncEntry.objects.exists()

    excel = "Nombre;Phone\nJosé Núñez;5035550811\nZoë;5035550812\n".encode("cp1252")
    result = dnc_import_csv(account=account, file=excel)
    assert (result.added, result.invalid) == (2, 0)

    bare = b"(971) 555-0830\r\n971-555-0831\r\n\r\n971.555.0830\r\n"
    result = dnc_import_csv(account=account, file=bare)
    assert (result.rows, result.added, result.duplicates) == (3, 2, 1)
    assert result.errors == [{"row": 4, "reason": "+19715550830 is repeated (first on row 1)."}]


def test_import_cancels_waiting_messages_of_every_phone_added(world):
    account, ana, ben = world
    gotv = sending_campaign(account)
    to_ana, to_ben = queued(account, ana, campaign=gotv), queued(account, ben, campaign=gotv)
    queued(account, ana, status=MessageStatus.SENDING)
    queued(account, ben, status=MessageStatus.SENDING)
    dnc_import_csv(account=account, file=f"phone\n{ANA}\n".encode())
    to_ana.refresh_from_db()
    to_ben.refresh_from_db()
    assert (to_ana.status, to_ben.status) == ("canceled", "queued")
    assert marked(account, ANA) and not marked(account, BEN)


def test_import_costs_the_same_statements_for_ten_rows_or_two_thousand(world):
    account, _, _ = world

    def statements(n: int, start: int) -> int:
        body = "phone\n" + "".join(f"+1971555{start + i:04d}\n" for i in range(n))
        with CaptureQueriesContext(connection) as queries:
            result = dnc_import_csv(account=account, file=body.encode())
        assert result.added == n
        return len(queries)

    assert statements(10, 1000) == statements(2000, 3000)


def test_import_of_too_many_rows_is_refused_and_changes_nothing(world):
    account, _, _ = world
    body = "phone\n" + "+19715551000\n" * 50_001
    with pytest.raises(ValidationError, match="more than 50,000 rows"):
        dnc_import_csv(account=account, file=body.encode())
    assert not DncEntry.objects.exists()
