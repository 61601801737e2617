"""The conversations API (API.md "Conversations") and macros: shapes, scope by role,
filters and search, thread paging, replies through the queue to the simulator, the
compliance pre-flight, status / assignment / snooze / spam / tags."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from compliance.models import DncEntry
from contacts.models import Tribe, TribeMember
from conversations.models import AssignmentRecord, Conversation, Macro
from providers.models import SimulatorMessage
from tests.factories import api_client, make_account, make_contact, make_member, make_number
from tests.inbound import text_in
from tests.sending import drain
from texting import dispatch
from texting.models import PRIORITY_SEND_AFTER, Campaign, CampaignStatus, Message, MessageStatus

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("daytime_recipients", "clean_dispatch_state"),
]

OURS, OTHER = "+19715550851", "+19715550852"
ANA, BEN, CAL = "+15035550861", "+15035550862", "+15035550863"
LIST = "/api/v1/conversations/"


def detail(c) -> str:
    return f"{LIST}{c.pk}/"


def messages(c) -> str:
    return f"{LIST}{c.pk}/messages/"


@pytest.fixture
def world():
    account = make_account("inbox")
    ours = make_number(account, OURS, mps=50)
    make_number(account, OTHER, mps=50)
    gotv = Campaign.objects.create(
        account=account, name="GOTV", body="Hi", status=CampaignStatus.SENDING, sender_ids=[ours.pk]
    )
    people = {
        "ana": make_contact(account, ANA, first_name="Ana", last_name="Diaz"),
        "ben": make_contact(account, BEN, first_name="Ben"),
        "cal": make_contact(account, CAL, first_name="Cal"),
    }
    for contact in people.values():
        Message.objects.create(
            account=account,
            campaign=gotv,
            contact=contact,
            from_number=OURS,
            to_number=contact.phone,
            body="Will you vote?",
            status=MessageStatus.DELIVERED,
            send_after=timezone.now(),
            sent_at=timezone.now(),
        )
    text_in(ANA, OURS, "Yes, where is my polling place?")
    text_in(BEN, OURS, "No thanks")
    text_in(CAL, OTHER, "Hello other number")
    users = {role: make_member(account, role, f"{role}-inbox") for role in ("admin", "manager")}
    users["field"] = make_member(account, "field", "field-inbox")
    users["field2"] = make_member(account, "field", "field2-inbox")
    users["viewer"] = make_member(account, "viewer", "viewer-inbox")
    threads = {name: Conversation.objects.get(contact=c) for name, c in people.items()}
    return account, gotv, people, users, threads


def client(world, role):
    account, _, _, users, _ = world
    return api_client(users[role], account)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_the_inbox_lists_newest_reply_first_with_its_shape(world):
    _, gotv, _, _, threads = world
    response = client(world, "admin").get(LIST)

    assert ids(response) == [threads["cal"].pk, threads["ben"].pk, threads["ana"].pk]
    row = response.json()["results"][-1]
    assert row["contact_name"] == "Ana Diaz"
    assert (row["phone"], row["our_number"], row["campaign_id"]) == (ANA, OURS, gotv.pk)
    assert (row["status"], row["unread"], row["assigned_to"]) == ("open", 1, None)
    assert row["last_preview"] == "Yes, where is my polling place?"


def test_detail_has_contact_tribes_campaign_and_label(world):
    account, gotv, people, _, threads = world
    volunteers = Tribe.objects.create(account=account, name="Volunteers", kind="list")
    TribeMember.objects.create(tribe=volunteers, contact=people["ana"])
    Tribe.objects.create(account=account, name="Others", kind="list")

    body = client(world, "viewer").get(detail(threads["ana"])).json()

    assert body["tribes"] == [{"id": volunteers.pk, "name": "Volunteers"}]
    assert body["campaign"] == {"id": gotv.pk, "name": "GOTV"}
    assert (body["label"], body["notice"]) == ("", "")
    cal = client(world, "admin").get(detail(threads["cal"])).json()
    assert cal["label"] == "unattached" and "no active campaign" in cal["notice"]


def test_another_accounts_conversation_is_404(world):
    other = make_account("other-inbox")
    make_number(other, "+19715550859")
    make_contact(other, ANA)
    text_in(ANA, "+19715550859", "hi")
    theirs = Conversation.objects.get(account=other)

    assert client(world, "admin").get(detail(theirs)).status_code == 404
    assert client(world, "admin").get(messages(theirs)).status_code == 404


def test_a_field_user_sees_only_their_assigned_threads(world):
    _, _, _, users, threads = world
    Conversation.objects.filter(pk=threads["ben"].pk).update(assigned_to=users["field"])
    field = client(world, "field")

    assert ids(field.get(LIST)) == [threads["ben"].pk]
    assert field.get(detail(threads["ana"])).status_code == 404
    assert field.get(messages(threads["ana"])).status_code == 404
    assert field.post(messages(threads["ana"]), {"body": "hi"}, format="json").status_code == 404
    assert field.get(messages(threads["ben"])).status_code == 200
    assert client(world, "field2").get(detail(threads["ben"])).status_code == 404


def test_a_manager_sees_their_own_and_the_unassigned(world):
    _, _, _, users, threads = world
    Conversation.objects.filter(pk=threads["ben"].pk).update(assigned_to=users["field"])
    Conversation.objects.filter(pk=threads["cal"].pk).update(assigned_to=users["manager"])

    assert set(ids(client(world, "manager").get(LIST))) == {threads["ana"].pk, threads["cal"].pk}
    assert client(world, "manager").get(detail(threads["ben"])).status_code == 404


def test_a_viewer_reads_everything_but_cannot_send_or_change(world):
    _, _, _, _, threads = world
    viewer = client(world, "viewer")

    assert len(ids(viewer.get(LIST))) == 3
    assert viewer.get(messages(threads["ana"])).status_code == 200
    response = viewer.post(messages(threads["ana"]), {"body": "Hello"}, format="json")
    assert response.status_code == 403
    assert (
        viewer.patch(detail(threads["ana"]), {"status": "resolved"}, format="json").status_code
        == 403
    )
    assert not Message.objects.filter(to_number=ANA, campaign__isnull=True).exists()
    # Reading does not mark it read for the team either.
    assert Conversation.objects.get(pk=threads["ana"].pk).unread == 1


def test_filters_unread_assigned_campaign_status_tribe(world):
    account, gotv, people, users, threads = world
    admin = client(world, "admin")
    admin.get(messages(threads["ben"]))  # opening the thread marks it read
    Conversation.objects.filter(pk=threads["ana"].pk).update(
        assigned_to=users["admin"], status="resolved"
    )
    tribe = Tribe.objects.create(account=account, name="Ben only", kind="list")
    TribeMember.objects.create(tribe=tribe, contact=people["ben"])

    assert ids(admin.get(LIST, {"unread": "true"})) == [threads["cal"].pk, threads["ana"].pk]
    assert ids(admin.get(LIST, {"assigned": "me"})) == [threads["ana"].pk]
    assert ids(admin.get(LIST, {"campaign": gotv.pk})) == [threads["ben"].pk, threads["ana"].pk]
    assert ids(admin.get(LIST, {"status": "resolved"})) == [threads["ana"].pk]
    assert ids(admin.get(LIST, {"tribe": tribe.pk})) == [threads["ben"].pk]
    today = timezone.localdate().isoformat()
    assert len(ids(admin.get(LIST, {"since": today}))) == 3
    tomorrow = (timezone.localdate() + datetime.timedelta(days=2)).isoformat()
    assert ids(admin.get(LIST, {"since": tomorrow})) == []


def test_bad_filters_are_400_naming_the_field(world):
    admin = client(world, "admin")
    for params, field in (
        ({"status": "lost"}, "status"),
        ({"unread": "maybe"}, "unread"),
        ({"campaign": "x"}, "campaign"),
        ({"since": "yesterday"}, "since"),
    ):
        response = admin.get(LIST, params)
        assert response.status_code == 400 and field in response.json(), params


def test_keyword_search_finds_threads_by_what_was_written(world):
    _, _, _, _, threads = world
    admin = client(world, "admin")

    assert ids(admin.get(LIST, {"q": "polling"})) == [threads["ana"].pk]
    assert ids(admin.get(LIST, {"q": "thanks"})) == [threads["ben"].pk]
    assert ids(admin.get(LIST, {"q": "zebra"})) == []
    # A staff reply is searchable too.
    admin.post(messages(threads["cal"]), {"body": "Try the library annex"}, format="json")
    assert ids(admin.get(LIST, {"q": "annex"})) == [threads["cal"].pk]
    # A later text adds its words; the earlier ones stay findable.
    text_in(BEN, OURS, "bring a zucchini")
    assert ids(admin.get(LIST, {"q": "zucchini"})) == [threads["ben"].pk]
    assert ids(admin.get(LIST, {"q": "no thanks"})) == [threads["ben"].pk]
    assert ids(admin.get(LIST, {"q": "polling zucchini"})) == []  # every word must match


def test_thread_messages_newest_first_and_before_pages_back(world):
    account, _, people, _, threads = world
    for i in range(60):
        text_in(ANA, OURS, f"note {i}")
    admin = client(world, "admin")

    first = admin.get(messages(threads["ana"])).json()
    assert len(first) == 50
    assert first[0]["body"] == "note 59" and first[0]["direction"] == "inbound"
    older = admin.get(messages(threads["ana"]), {"before": first[-1]["id"]}).json()
    assert [m["body"] for m in older][-2:] == ["Yes, where is my polling place?", "Will you vote?"]
    assert len(older) == 12
    assert older[-1]["direction"] == "outbound" and older[-1]["status"] == "delivered"
    assert Conversation.objects.get(pk=threads["ana"].pk).unread == 0
    assert admin.get(messages(threads["ana"]), {"before": "x"}).status_code == 400


def test_a_reply_is_queued_from_the_sticky_number_and_reaches_the_simulator(world):
    _, _, _, _, threads = world
    response = client(world, "field").post(messages(threads["ana"]), {"body": "Hi"}, format="json")
    assert response.status_code == 404  # not assigned to them

    response = client(world, "admin").post(
        messages(threads["ana"]), {"body": "Hi {first_name}, it is at the library."}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["from_number"], body["to_number"], body["status"]) == (OURS, ANA, "queued")
    assert body["body"] == "Hi Ana, it is at the library."
    row = Message.objects.get(pk=body["id"])
    assert (row.campaign_id, row.kind, row.send_after) == (None, None, PRIORITY_SEND_AFTER)

    drain(OURS, seconds=5.0)

    delivered = SimulatorMessage.objects.get(to_number=ANA)
    assert (delivered.from_number, delivered.text) == (OURS, "Hi Ana, it is at the library.")
    row.refresh_from_db()
    assert row.status in (MessageStatus.SENT, MessageStatus.DELIVERED)


def test_a_reply_goes_ahead_of_a_campaign_backlog_on_its_number(world):
    account, gotv, people, _, threads = world
    later = timezone.now() - datetime.timedelta(seconds=1)
    for i in range(5):
        contact = make_contact(account, f"+1503555087{i}")
        Message.objects.create(
            account=account,
            campaign=gotv,
            contact=contact,
            from_number=OURS,
            to_number=contact.phone,
            body="bulk",
            status=MessageStatus.QUEUED,
            send_after=later,
        )
    client(world, "admin").post(messages(threads["ben"]), {"body": "Sorry!"}, format="json")

    claimed = dispatch.claim(sender=OURS, limit=1)

    assert Message.objects.get(pk=claimed[0].id).to_number == BEN


def test_replies_refused_by_compliance_are_422_with_the_reason(world):
    account, _, people, _, threads = world
    admin = client(world, "admin")
    text_in(BEN, OURS, "STOP")
    DncEntry.objects.create(account=account, phone=CAL, reason="manual")

    ben = admin.post(messages(threads["ben"]), {"body": "Wait!"}, format="json")
    cal = admin.post(messages(threads["cal"]), {"body": "Hi"}, format="json")

    assert (ben.status_code, ben.json()["reason"]) == (422, "opted_out")
    assert (cal.status_code, cal.json()["reason"]) == (422, "dnc")
    assert not Message.objects.filter(body__in=["Wait!", "Hi"]).exists()


def test_an_unconsented_voter_gets_manual_replies_only_in_campaign_mode(world):
    account, gotv, people, _, threads = world
    type(people["ana"]).objects.filter(pk=people["ana"].pk).update(sms_status="none")
    admin = client(world, "admin")

    refused = admin.post(messages(threads["ana"]), {"body": "Hi"}, format="json")
    assert (refused.status_code, refused.json()["reason"]) == (422, "no_opt_in")

    Campaign.objects.filter(pk=gotv.pk).update(mode="campaign")
    assert admin.post(messages(threads["ana"]), {"body": "Hi"}, format="json").status_code == 201


def test_a_bad_reply_is_400_naming_the_field(world):
    _, _, _, _, threads = world
    admin = client(world, "admin")
    for payload, field in (
        ({"body": "Hi {nickname}"}, "body"),
        ({"body": ""}, "body"),
        ({"body": "x" * 2000}, "body"),
        ({"body": "Hi", "media_ids": [999999]}, "media_ids"),
    ):
        response = admin.post(messages(threads["ana"]), payload, format="json")
        assert response.status_code == 400 and field in response.json(), payload
    assert not Message.objects.filter(to_number=ANA, campaign__isnull=True).exists()


def test_assignment_is_validated_and_every_change_recorded(world):
    account, _, _, users, threads = world
    admin = client(world, "admin")
    outsider = make_member(make_account("elsewhere"), "admin")

    bad = admin.patch(detail(threads["ana"]), {"assigned_to": outsider.pk}, format="json")
    assert bad.status_code == 400 and "assigned_to" in bad.json()

    for user in (users["field"], users["field"], users["manager"], None):
        response = admin.patch(
            detail(threads["ana"]), {"assigned_to": user.pk if user else None}, format="json"
        )
        assert response.status_code == 200
    history = list(
        AssignmentRecord.objects.filter(conversation=threads["ana"])
        .order_by("id")
        .values_list("assigned_to", "assigned_by")
    )
    admin_id = users["admin"].pk
    assert history == [
        (users["field"].pk, admin_id),
        (users["manager"].pk, admin_id),
        (None, admin_id),
    ]


def test_snooze_needs_a_future_time(world):
    _, _, _, _, threads = world
    admin = client(world, "admin")
    past = (timezone.now() - datetime.timedelta(minutes=1)).isoformat()
    future = (timezone.now() + datetime.timedelta(hours=3)).isoformat()

    missing = admin.patch(detail(threads["ana"]), {"status": "snoozed"}, format="json")
    in_past = admin.patch(
        detail(threads["ana"]), {"status": "snoozed", "snooze_until": past}, format="json"
    )
    assert missing.status_code == 400 and "snooze_until" in missing.json()
    assert in_past.status_code == 400 and "snooze_until" in in_past.json()
    assert Conversation.objects.get(pk=threads["ana"].pk).status == "open"

    ok = admin.patch(
        detail(threads["ana"]), {"status": "snoozed", "snooze_until": future}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["status"] == "snoozed"
    reopened = admin.patch(detail(threads["ana"]), {"status": "open"}, format="json").json()
    assert (reopened["status"], reopened["snooze_until"]) == ("open", None)


def test_tags_are_checked(world):
    _, _, _, _, threads = world
    admin = client(world, "admin")
    ok = admin.patch(detail(threads["ana"]), {"tags": ["polling", "ride"]}, format="json")
    assert ok.json()["tags"] == ["polling", "ride"]
    long = admin.patch(detail(threads["ana"]), {"tags": ["x" * 41]}, format="json")
    many = admin.patch(
        detail(threads["ana"]), {"tags": [f"t{i}" for i in range(21)]}, format="json"
    )
    assert long.status_code == 400 and many.status_code == 400
    assert Conversation.objects.get(pk=threads["ana"].pk).tags == ["polling", "ride"]


def test_marking_spam_puts_the_phone_on_the_dnc_list(world):
    account, _, _, _, threads = world
    admin = client(world, "admin")

    response = admin.patch(detail(threads["ben"]), {"status": "spam"}, format="json")

    assert response.status_code == 200
    entry = DncEntry.objects.get(account=account, phone=BEN)
    assert entry.reason == "spam"
    again = admin.post(messages(threads["ben"]), {"body": "hello"}, format="json")
    assert again.status_code == 409


def test_macros_crud_and_send_to_several_threads(world):
    account, _, _, users, threads = world
    admin = client(world, "admin")
    text_in(BEN, OURS, "STOP")

    created = admin.post(
        "/api/v1/macros/",
        {"name": "Polling", "body": "Hi {first_name|there}, see vote.gov"},
        format="json",
    )
    assert created.status_code == 201, created.content
    macro_id = created.json()["id"]
    dup = admin.post("/api/v1/macros/", {"name": "Polling", "body": "x"}, format="json")
    assert dup.status_code == 400 and "name" in dup.json()
    bad = admin.post("/api/v1/macros/", {"name": "Bad", "body": "{nope}"}, format="json")
    assert bad.status_code == 400 and "body" in bad.json()
    assert [m["name"] for m in admin.get("/api/v1/macros/").json()["results"]] == ["Polling"]
    assert (
        client(world, "viewer")
        .post("/api/v1/macros/", {"name": "V", "body": "v"}, format="json")
        .status_code
        == 403
    )

    Conversation.objects.filter(pk=threads["cal"].pk).update(assigned_to=users["field"])
    sent = client(world, "field").post(
        f"/api/v1/macros/{macro_id}/send/",
        {"conversation_ids": [threads["cal"].pk, threads["ana"].pk]},
        format="json",
    )
    results = {r["conversation_id"]: r for r in sent.json()["results"]}
    assert results[threads["cal"].pk]["status"] == "queued"
    assert results[threads["ana"].pk]["reason"] == "not_found"  # not theirs

    sent = admin.post(
        f"/api/v1/macros/{macro_id}/send/",
        {"conversation_ids": [threads["ana"].pk, threads["ben"].pk]},
        format="json",
    )
    results = {r["conversation_id"]: r for r in sent.json()["results"]}
    assert results[threads["ana"].pk]["status"] == "queued"
    assert (results[threads["ben"].pk]["status"], results[threads["ben"].pk]["reason"]) == (
        "refused",
        "opted_out",
    )
    bodies = set(Message.objects.filter(body__startswith="Hi ").values_list("to_number", "body"))
    assert bodies == {(ANA, "Hi Ana, see vote.gov"), (CAL, "Hi Cal, see vote.gov")}

    renamed = admin.patch(f"/api/v1/macros/{macro_id}/", {"name": "Where to vote"}, format="json")
    assert renamed.json()["name"] == "Where to vote"
    assert admin.delete(f"/api/v1/macros/{macro_id}/").status_code == 204
    assert not Macro.objects.exists()


def test_a_reply_with_an_attachment_reaches_the_simulator_with_its_signed_url(
    world, settings, tmp_path
):
    import io

    from PIL import Image

    from texting.media import media_upload

    settings.MEDIA_ROOT = str(tmp_path)
    settings.PUBLIC_BASE_URL = "http://testserver"
    settings.MMS_PRICE = "0.0200"
    account, _, _, users, threads = world
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format="PNG")
    media = media_upload(account=account, actor=users["admin"], data=out.getvalue(), name="a.png")

    response = client(world, "admin").post(
        messages(threads["ben"]), {"body": "The flyer", "media_ids": [media.pk]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["media_ids"] == [media.pk]
    drain(OURS, seconds=5.0)

    (sent,) = SimulatorMessage.objects.filter(to_number=BEN)
    (url,) = sent.media_urls
    assert sent.text == "The flyer" and url.startswith(f"http://testserver/m/{media.pk}-")
    # Charged as an MMS (one price per message), like a campaign with media.
    reply = Message.objects.get(pk=response.json()["id"])
    assert reply.charged == Decimal(settings.MMS_PRICE)
