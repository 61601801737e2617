"""Consent provenance: the consent API (single and double opt-in, the trail), keywords
writing consent records through the real inbound webhook path, overriding a STOP only
with new explicit consent, the evidence being append-only and written in the same
transaction as the change, and the contact page's consent panel."""

import datetime

import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from compliance.consent import ConsentBlocked, ConsentError, consent_record
from compliance.models import AuditEntry, ConsentRecord
from compliance.suppression import dnc_add
from contacts.geo import zone_at_local_hour
from contacts.models import Contact, EngagementEvent, SmsStatus
from providers.models import SimulatorMessage
from providers.services import (
    WebhookProcessingError,
    webhook_event_process,
    webhook_event_store,
)
from tests.factories import api_client, make_contact, make_member, make_number
from tests.inbound import inbound
from tests.inbound import text_in as inbound_text_in
from tests.providers.conftest import quiet_simulator  # noqa: F401  (autouse)
from tests.sending import drain
from texting.models import Message, MessageKind

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_dispatch_state")]

OURS = "+19715550801"
ANA = "+15035550811"
FORM_LANGUAGE = (
    "Yes, text me Alpha for Oregon updates. Msg & data rates may apply. Reply STOP to opt out."
)


@pytest.fixture
def ana(account):
    make_number(account, OURS, mps=50)
    return make_contact(account, ANA, sms_status=SmsStatus.NONE, first_name="Ana")


def url(contact: Contact) -> str:
    return f"/api/v1/contacts/{contact.pk}/consents/"


def form_consent(**overrides) -> dict:
    return {
        "source_type": "form",
        "source_ref": "https://alpha.example/join",
        "consent_language": FORM_LANGUAGE,
        "captured_at": (timezone.now() - datetime.timedelta(hours=1)).isoformat(),
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (iPhone)",
        "method": "single",
        **overrides,
    }


def status_of(contact: Contact) -> str:
    return Contact.objects.get(pk=contact.pk).sms_status


def text_in(from_: str, to: str, text: str) -> str:
    """An inbound SMS, applied as the worker applies it; returns the provider's id."""
    return inbound_text_in(from_, to, text)["data"]["payload"]["id"]


def evidence_counts(contact: Contact) -> tuple[int, int, int]:
    return (
        ConsentRecord.objects.filter(contact=contact).count(),
        AuditEntry.objects.filter(contact_id=contact.pk).count(),
        EngagementEvent.objects.filter(
            contact=contact, type__in=["sms_opt_in", "sms_opt_out"]
        ).count(),
    )


# --- The API ---------------------------------------------------------------------------


def test_single_opt_in_records_provenance_and_opts_in(account, admin_user, admin_api, ana):
    response = admin_api.post(url(ana), form_consent(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sms_status"] == SmsStatus.OPTED_IN
    assert (body["action"], body["source_type"], body["method"]) == ("opt_in", "form", "single")
    assert (body["ip"], body["consent_language"]) == ("203.0.113.7", FORM_LANGUAGE)
    assert body["recorded_by"] == admin_user.username
    assert status_of(ana) == SmsStatus.OPTED_IN

    (event,) = EngagementEvent.objects.filter(contact=ana, type="sms_opt_in")
    assert (event.data["from"], event.data["to"]) == (SmsStatus.NONE, SmsStatus.OPTED_IN)
    assert event.data["consent_record"] == body["id"]
    (audit,) = AuditEntry.objects.filter(account=account, phone=ANA)
    assert (audit.action, audit.actor, audit.contact_id) == ("consent_opt_in", admin_user, ana.pk)
    assert (audit.data["from"], audit.data["to"]) == (SmsStatus.NONE, SmsStatus.OPTED_IN)


def test_double_opt_in_waits_for_yes_then_confirms_through_an_inbound_reply(
    account, admin_api, ana
):
    account.opt_in_confirmation = (
        "Alpha for Oregon: you're in! Msg & data rates may apply. Reply STOP to opt out."
    )
    account.save(update_fields=["opt_in_confirmation"])
    response = admin_api.post(url(ana), form_consent(method="double"), format="json")
    assert response.status_code == 201
    assert response.json()["sms_status"] == SmsStatus.PENDING
    assert status_of(ana) == SmsStatus.PENDING

    message_id = text_in(ANA, OURS, "Yes")

    assert status_of(ana) == SmsStatus.OPTED_IN
    confirm, opt_in = ConsentRecord.objects.filter(contact=ana).order_by("-id")
    assert (opt_in.action, opt_in.method, opt_in.status_after) == ("opt_in", "double", "pending")
    assert (confirm.action, confirm.method, confirm.source_type) == ("confirm", "double", "keyword")
    assert confirm.consent_language == "Yes"  # the confirmation message itself
    assert message_id in confirm.source_ref
    assert confirm.status_after == SmsStatus.OPTED_IN
    assert AuditEntry.objects.filter(phone=ANA, action="consent_confirm").count() == 1
    (reply,) = Message.objects.filter(to_number=ANA, kind=MessageKind.OPT_IN_CONFIRMATION)
    assert reply.body == account.opt_in_confirmation

    trail = admin_api.get(url(ana)).json()
    assert trail["count"] == 2
    assert [r["action"] for r in trail["results"]] == ["confirm", "opt_in"]  # newest first


def test_double_opt_in_does_not_downgrade_an_opted_in_contact(account, admin_api):
    bea = make_contact(account, "+15035550812")  # opted in
    response = admin_api.post(url(bea), form_consent(method="double"), format="json")
    assert response.status_code == 201
    assert response.json()["sms_status"] == SmsStatus.OPTED_IN
    assert status_of(bea) == SmsStatus.OPTED_IN


# --- The double opt-in request ----------------------------------------------------------


def double_opt_in(api, contact: Contact, capture) -> None:
    with capture(execute=True):
        response = api.post(url(contact), form_consent(method="double"), format="json")
    assert response.status_code == 201, response.json()


def test_a_double_opt_in_texts_reply_yes_once_and_the_yes_confirms(
    account, admin_api, ana, django_capture_on_commit_callbacks
):
    double_opt_in(admin_api, ana, django_capture_on_commit_callbacks)
    (request,) = Message.objects.filter(to_number=ANA, kind=MessageKind.CONFIRMATION_REQUEST)
    assert request.from_number == OURS and request.campaign_id is None
    assert request.body.startswith("Alpha for Oregon: reply YES to confirm")
    for words in ("Msg & data rates may apply", "HELP", "STOP"):
        assert words in request.body

    double_opt_in(admin_api, ana, django_capture_on_commit_callbacks)  # still pending
    assert Message.objects.filter(kind=MessageKind.CONFIRMATION_REQUEST).count() == 1

    drain(OURS)
    sent = SimulatorMessage.objects.get(to_number=ANA)
    assert (sent.from_number, sent.text) == (OURS, request.body)
    text_in(ANA, OURS, "YES")
    assert status_of(ana) == SmsStatus.OPTED_IN


def test_the_request_is_queued_in_the_records_transaction_and_rolls_back_with_it(ana):
    requests = Message.objects.filter(kind=MessageKind.CONFIRMATION_REQUEST)
    with pytest.raises(RuntimeError), transaction.atomic():
        consent_record(
            contact=ana,
            source_type="form",
            method="double",
            source_ref="signup",
            consent_language=FORM_LANGUAGE,
        )
        assert requests.count() == 1  # already queued, before any commit
        raise RuntimeError("the caller's transaction fails")
    assert not requests.exists() and not ConsentRecord.objects.filter(contact=ana).exists()
    assert status_of(ana) == SmsStatus.NONE


def test_a_request_still_waiting_when_they_answer_is_dropped(
    account, admin_api, ana, django_capture_on_commit_callbacks
):
    double_opt_in(admin_api, ana, django_capture_on_commit_callbacks)
    text_in(ANA, OURS, "yes")  # they texted YES before the request went out
    drain(OURS)
    request = Message.objects.get(kind=MessageKind.CONFIRMATION_REQUEST)
    assert (request.status, request.error_reason) == ("canceled", "not_pending")
    assert not SimulatorMessage.objects.filter(text=request.body).exists()


def test_the_request_waits_for_the_end_of_quiet_hours(
    account, admin_api, django_capture_on_commit_callbacks
):
    make_number(account, OURS, mps=50)
    night = zone_at_local_hour(2.5)
    cal = make_contact(account, "+13125550821", sms_status=SmsStatus.NONE)
    Contact.objects.filter(pk=cal.pk).update(timezone=night, timezone_candidates=[night])
    double_opt_in(admin_api, cal, django_capture_on_commit_callbacks)
    drain(OURS)
    request = Message.objects.get(kind=MessageKind.CONFIRMATION_REQUEST)
    assert request.status == "scheduled"  # held until their morning, not sent
    assert request.send_after > timezone.now() + datetime.timedelta(hours=4)
    assert not SimulatorMessage.objects.exists()


def test_no_request_to_a_dnc_listed_phone_or_from_an_account_without_numbers(
    account, other_account, django_capture_on_commit_callbacks
):
    make_number(account, OURS, mps=50)
    listed = make_contact(account, "+15035550822", sms_status=SmsStatus.NONE)
    dnc_add(account=account, phone=listed.phone, reason="manual")
    numberless = make_contact(other_account, "+15035550823", sms_status=SmsStatus.NONE)
    with django_capture_on_commit_callbacks(execute=True):
        for contact in (listed, numberless):
            consent_record(
                contact=contact,
                source_type="form",
                method="double",
                source_ref="signup",
                consent_language=FORM_LANGUAGE,
            )
    assert status_of(listed) == status_of(numberless) == SmsStatus.PENDING
    assert not Message.objects.filter(kind=MessageKind.CONFIRMATION_REQUEST).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source_type": "billboard"}, "source_type"),
        ({"method": "triple"}, "method"),
        ({"ip": "999.1.1.1"}, "ip"),
        ({"captured_at": "2099-01-01T00:00:00Z"}, "captured_at"),
        ({"captured_at": "yesterday"}, "captured_at"),
        ({"consent_language": ""}, "consent_language"),  # a form consent needs its words
        ({"source_type": "cta", "consent_language": "  "}, "consent_language"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(admin_api, ana, change, field):
    response = admin_api.post(url(ana), form_consent(**change), format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert status_of(ana) == SmsStatus.NONE
    assert evidence_counts(ana) == (0, 0, 0)


def test_manual_consent_needs_no_language_and_defaults_to_now(admin_api, ana):
    response = admin_api.post(
        url(ana), {"source_type": "manual", "source_ref": "phone call"}, format="json"
    )
    assert response.status_code == 201
    captured = datetime.datetime.fromisoformat(response.json()["captured_at"])
    assert abs((timezone.now() - captured).total_seconds()) < 60
    assert status_of(ana) == SmsStatus.OPTED_IN


def test_another_accounts_contact_is_a_404(admin_api, other_account):
    theirs = make_contact(other_account, ANA, sms_status=SmsStatus.NONE)
    assert admin_api.get(url(theirs)).status_code == 404
    assert admin_api.post(url(theirs), form_consent(), format="json").status_code == 404
    assert status_of(theirs) == SmsStatus.NONE
    assert not ConsentRecord.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "field"])
def test_roles_that_may_not_edit_contacts_get_a_403(account, ana, role):
    client = api_client(make_member(account, role), account)
    assert client.get(url(ana)).status_code == 200  # everyone reads the trail
    response = client.post(url(ana), form_consent(), format="json")
    assert response.status_code == 403
    assert status_of(ana) == SmsStatus.NONE
    assert not ConsentRecord.objects.exists()


def test_a_manager_may_record_consent(account, ana):
    client = api_client(make_member(account, "manager"), account)
    assert client.post(url(ana), form_consent(), format="json").status_code == 201


# --- Keywords write consent records ---------------------------------------------------


def test_stop_writes_an_opt_out_record_and_an_audit_entry(account, ana):
    Contact.objects.filter(pk=ana.pk).update(sms_status=SmsStatus.OPTED_IN)
    message_id = text_in(ANA, OURS, "STOP")
    text_in(ANA, OURS, "stop")  # a second STOP changes nothing and records nothing

    (record,) = ConsentRecord.objects.filter(contact=ana)
    assert (record.action, record.source_type, record.status_after) == (
        "opt_out",
        "keyword",
        SmsStatus.OPTED_OUT,
    )
    assert record.consent_language == "STOP"
    assert message_id in record.source_ref
    assert record.recorded_by is None
    (audit,) = AuditEntry.objects.filter(account=account, phone=ANA)
    assert audit.action == "consent_opt_out"
    assert (audit.data["from"], audit.data["to"], audit.data["keyword"]) == (
        SmsStatus.OPTED_IN,
        SmsStatus.OPTED_OUT,
        "STOP",
    )
    assert audit.data["provider_message_id"] == message_id


def test_start_after_stop_writes_a_re_opt_in(ana):
    text_in(ANA, OURS, "STOP")
    text_in(ANA, OURS, "START")
    assert status_of(ana) == SmsStatus.OPTED_IN
    assert list(
        ConsentRecord.objects.filter(contact=ana).order_by("id").values_list("action", flat=True)
    ) == ["opt_out", "re_opt_in"]


# --- Overriding a STOP ----------------------------------------------------------------


@pytest.fixture
def stopped(ana):
    """Ana texted STOP a moment ago."""
    text_in(ANA, OURS, "STOP")
    assert status_of(ana) == SmsStatus.OPTED_OUT
    return ana


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source_type": "import"}, "source_type"),
        (
            {"captured_at": (timezone.now() - datetime.timedelta(days=30)).isoformat()},
            "captured_at",
        ),
        ({"source_type": "manual", "source_ref": ""}, "source_ref"),
        ({"source_type": "manual", "consent_language": ""}, "consent_language"),
    ],
)
def test_a_stop_stands_against_consent_that_is_not_new_and_explicit(
    admin_api, stopped, change, field
):
    before = evidence_counts(stopped)
    payload = form_consent(**{"captured_at": timezone.now().isoformat(), **change})
    response = admin_api.post(url(stopped), payload, format="json")
    assert response.status_code == 422
    assert field in response.json()
    assert status_of(stopped) == SmsStatus.OPTED_OUT
    assert evidence_counts(stopped) == before


def test_new_consent_after_a_stop_opts_back_in_and_clears_the_dispatch_mark(
    account, admin_api, stopped, django_capture_on_commit_callbacks
):
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    mark = f"dispatch:opted-out:{account.pk}:{ANA}"
    assert client.exists(mark)  # set by the STOP: calls to Ana would be canceled

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            url(stopped), form_consent(captured_at=timezone.now().isoformat()), format="json"
        )

    assert response.status_code == 201
    assert (response.json()["action"], response.json()["sms_status"]) == ("re_opt_in", "opted_in")
    assert status_of(stopped) == SmsStatus.OPTED_IN
    assert not client.exists(mark)


def test_double_opt_in_for_an_opted_out_contact_goes_to_pending(admin_api, stopped):
    response = admin_api.post(
        url(stopped),
        form_consent(captured_at=timezone.now().isoformat(), method="double"),
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["action"], response.json()["sms_status"]) == ("re_opt_in", "pending")
    text_in(ANA, OURS, "YES")
    assert status_of(stopped) == SmsStatus.OPTED_IN


# --- Evidence is append-only and written with the change -------------------------------


def test_consent_records_and_audit_entries_cannot_be_rewritten(admin_api, ana):
    admin_api.post(url(ana), form_consent(), format="json")
    for model, change in ((ConsentRecord, {"source_ref": "edited"}), (AuditEntry, {"action": "x"})):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            model.objects.update(**change)
    assert ConsentRecord.objects.get().source_ref == "https://alpha.example/join"


@pytest.fixture
def audit_inserts_fail():
    """The database refuses audit entries (a real failure, mid-way through a change)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_refuse_audit() RETURNS trigger AS $$ BEGIN"
            " RAISE EXCEPTION 'audit store unavailable'; END; $$ LANGUAGE plpgsql;"
            " CREATE TRIGGER test_refuse_audit BEFORE INSERT ON compliance_auditentry"
            " FOR EACH ROW EXECUTE FUNCTION test_refuse_audit();"
        )
    # Dropped with the test's transaction.


def test_a_failed_audit_write_leaves_no_consent_and_no_status_change(
    admin_user, ana, audit_inserts_fail
):
    with pytest.raises(DatabaseError, match="audit store unavailable"):
        consent_record(
            contact=ana,
            source_type="form",
            consent_language=FORM_LANGUAGE,
            source_ref="https://alpha.example/join",
            actor=admin_user,
        )
    assert status_of(ana) == SmsStatus.NONE
    assert evidence_counts(ana) == (0, 0, 0)


def test_a_stop_whose_audit_write_fails_changes_nothing(ana, audit_inserts_fail):
    Contact.objects.filter(pk=ana.pk).update(sms_status=SmsStatus.OPTED_IN)
    envelope = inbound(ANA, OURS, "STOP")
    with pytest.raises(WebhookProcessingError, match="audit store unavailable"):
        webhook_event_process(event_pk=webhook_event_store(envelope=envelope))  # retried later
    assert status_of(ana) == SmsStatus.OPTED_IN
    assert evidence_counts(ana) == (0, 0, 0)
    assert not Message.objects.filter(to_number=ANA).exists()  # no confirmation either


def test_the_service_raises_field_errors(ana, stopped):
    with pytest.raises(ConsentError) as bad:
        consent_record(contact=ana, source_type="form", method="single")
    assert set(bad.value.errors) == {"consent_language"}
    with pytest.raises(ConsentBlocked) as blocked:
        consent_record(contact=ana, source_type="import", consent_language="x", source_ref="list")
    assert set(blocked.value.errors) == {"source_type"}


# --- The contact page -----------------------------------------------------------------


@pytest.fixture
def web(admin_user):
    from django.test import Client

    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def _plain_static_storage(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.mark.usefixtures("_plain_static_storage")
def test_contact_page_records_consent_and_shows_the_trail(admin_user, web, ana):
    page = web.get(reverse("contact-detail", args=[ana.pk]))
    assert page.status_code == 200
    assert b"No consent on record yet." in page.content
    assert b"Record consent" in page.content

    response = web.post(
        reverse("contact-consents", args=[ana.pk]),
        {
            "source_type": "survey",
            "source_ref": "Doorstep survey, precinct 12",
            "consent_language": "OK to text me about the canvass.",
            "method": "single",
        },
    )
    assert response.status_code == 302
    assert status_of(ana) == SmsStatus.OPTED_IN
    over_htmx = web.post(
        reverse("contact-consents", args=[ana.pk]),
        {"source_type": "manual", "source_ref": "call", "method": "single"},
        HTTP_HX_REQUEST="true",
    )
    assert over_htmx["HX-Redirect"] == reverse("contact-detail", args=[ana.pk])
    page = web.get(reverse("contact-detail", args=[ana.pk])).content.decode()
    panel = page[page.index('id="consent-panel"') :]
    panel = panel[: panel.index("</table>")]
    assert "Doorstep survey, precinct 12" in panel
    assert "OK to text me about the canvass." in panel
    assert f'<td data-label="Recorded by">{admin_user.username}</td>' in panel


@pytest.mark.usefixtures("_plain_static_storage")
def test_contact_page_form_errors_name_the_field_over_htmx(web, ana):
    response = web.post(
        reverse("contact-consents", args=[ana.pk]),
        {"source_type": "form", "source_ref": "", "consent_language": "", "method": "single"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200  # htmx swaps only 2xx: the panel shows the errors
    assert b"<html" not in response.content
    assert b"needs the exact language" in response.content
    assert status_of(ana) == SmsStatus.NONE
    assert not ConsentRecord.objects.exists()
    # Without htmx: the whole page, and a 400.
    response = web.post(
        reverse("contact-consents", args=[ana.pk]),
        {"source_type": "form", "consent_language": "", "method": "single"},
    )
    assert response.status_code == 400
    assert b"<html" in response.content and b"needs the exact language" in response.content


@pytest.mark.usefixtures("_plain_static_storage")
def test_a_viewer_sees_the_trail_but_cannot_record(account, ana):
    from django.test import Client

    consent_record(contact=ana, source_type="manual", source_ref="call with Ana")
    viewer = Client()
    viewer.force_login(make_member(account, "viewer"))
    page = viewer.get(reverse("contact-detail", args=[ana.pk]))
    assert b"call with Ana" in page.content
    assert b"Record consent" not in page.content
    response = viewer.post(
        reverse("contact-consents", args=[ana.pk]), {"source_type": "manual", "method": "single"}
    )
    assert response.status_code == 403
    assert ConsentRecord.objects.count() == 1


# --- Demo data ------------------------------------------------------------------------


def test_seed_demo_writes_consent_records_once():
    call_command("seed_demo")
    consented = Contact.objects.filter(
        account__slug="demo", sms_status__in=[SmsStatus.OPTED_IN, SmsStatus.PENDING]
    )
    assert consented.exists()
    assert not consented.filter(consents__isnull=True).exists()
    pending = consented.filter(sms_status=SmsStatus.PENDING).first()
    if pending is not None:
        assert pending.consents.get().method == "double"
    count = ConsentRecord.objects.count()
    assert AuditEntry.objects.count() == count
    call_command("seed_demo")
    assert ConsentRecord.objects.count() == count
