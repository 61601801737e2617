"""The Conversations pages: the inbox (account-wide and a campaign's tab), the thread,
replies, controls, macros and the Dashboard's recent replies, per role. Inbound texts
come in through the real webhook path (tests.inbound.text_in)."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from compliance.models import DncEntry
from conversations.models import Conversation, Macro
from tests.factories import make_contact, make_member, make_number
from tests.inbound import text_in
from tests.ui.conftest import login_client
from texting.models import Campaign, CampaignStatus, Media, Message

OURS = "+19715550801"
ANA, BEN, CAL = "+15035550811", "+15035550812", "+15035550813"


@pytest.fixture
def inbox(account):
    """Three threads: Ana (unread, assigned to the field user), Ben (read), Cal (an
    unknown sender, newest)."""
    make_number(account, OURS)
    make_contact(account, ANA, first_name="Ana", last_name="Lopez")
    make_contact(account, BEN, first_name="Ben", last_name="Ng")
    field = make_member(account, "field", "fiona")
    text_in(ANA, OURS, "Count me in for Saturday")
    text_in(BEN, OURS, "Where is the rally?")
    text_in(CAL, OURS, "who is this")
    ana = Conversation.objects.get(phone=ANA)
    Conversation.objects.filter(pk=ana.pk).update(assigned_to=field)
    Conversation.objects.filter(phone=BEN).update(unread=0)
    return {
        "field": field,
        "ana": ana,
        "ben": Conversation.objects.get(phone=BEN),
        "cal": Conversation.objects.get(phone=CAL),
    }


def rows(html: str, inbox) -> list[str]:
    """Which of the fixture's threads a page lists, in order."""
    found = []
    for name in ("ana", "ben", "cal"):
        marker = f'data-conversation="{inbox[name].pk}"'
        if marker in html:
            found.append((html.index(marker), name))
    return [name for _, name in sorted(found)]


def test_admin_sees_every_thread_newest_reply_first_with_unread_and_labels(inbox, admin_web):
    response = admin_web.get(reverse("conversation-inbox"))
    html = response.content.decode()
    assert response.status_code == 200
    assert rows(html, inbox) == ["cal", "ben", "ana"]
    assert "Unknown sender" in html  # Cal wrote from a phone we had no record of
    assert html.count("unread-dot") == 2  # Ana and Cal; Ben's was read
    assert "Count me in for Saturday" in html and "Ana Lopez" in html
    assert "→ fiona" in html  # Ana's assignee
    assert 'data-live-inbox="list"' in html and "js/inbox.js" in html


def test_field_user_sees_only_assigned_threads_and_gets_404_on_others(inbox):
    field = login_client(inbox["field"])
    html = field.get(reverse("conversation-inbox")).content.decode()
    assert rows(html, inbox) == ["ana"]
    assert field.get(reverse("conversation-thread", args=[inbox["ana"].pk])).status_code == 200
    for other in ("ben", "cal"):
        url = reverse("conversation-thread", args=[inbox[other].pk])
        assert field.get(url).status_code == 404
        reply = reverse("conversation-reply", args=[inbox[other].pk])
        assert field.post(reply, {"body": "hi"}).status_code == 404
    # A field user works their own thread but hands it to nobody.
    page = field.get(reverse("conversation-thread", args=[inbox["ana"].pk])).content.decode()
    assert 'id="reply-body"' in page and 'id="assign-to"' not in page


def test_viewer_reads_without_composer_or_controls_and_may_not_post(inbox, member_client):
    viewer = member_client("viewer")
    url = reverse("conversation-thread", args=[inbox["ben"].pk])
    page = viewer.get(url).content.decode()
    assert "Where is the rally?" in page
    assert 'id="reply-body"' not in page and "Mark as spam" not in page
    assert "your role may not reply" in page
    reply = viewer.post(reverse("conversation-reply", args=[inbox["ben"].pk]), {"body": "hi"})
    assert reply.status_code == 403
    update = viewer.post(
        reverse("conversation-update", args=[inbox["ben"].pk]), {"action": "resolve"}
    )
    assert update.status_code == 403
    assert not Message.objects.filter(direction="outbound").exists()
    assert Conversation.objects.get(pk=inbox["ben"].pk).status == "open"
    # Reading as a viewer leaves the thread unread for whoever answers it.
    viewer.get(reverse("conversation-thread", args=[inbox["cal"].pk]))
    assert Conversation.objects.get(pk=inbox["cal"].pk).unread == 1


def test_other_accounts_threads_are_404(inbox, other_account):
    outsider = login_client(make_member(other_account, "admin"))
    assert outsider.get(reverse("conversation-thread", args=[inbox["ana"].pk])).status_code == 404
    assert "Ana Lopez" not in outsider.get(reverse("conversation-inbox")).content.decode()


def test_filters_swap_only_the_list(inbox, admin_web):
    def listed(**params) -> list[str]:
        response = admin_web.get(
            reverse("conversation-inbox"),
            params,
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="conversation-list",
        )
        html = response.content.decode()
        assert "<html" not in html  # the partial only
        assert 'name="conversation"' in html  # rows stay selectable after a swap
        return rows(html, inbox)

    assert listed(unread="1") == ["cal", "ana"]
    assert listed(q="rally") == ["ben"]
    Conversation.objects.filter(pk=inbox["cal"].pk).update(status="resolved")
    assert listed(status="resolved") == ["cal"]
    assert listed(status="open") == ["ben", "ana"]
    bad = admin_web.get(
        reverse("conversation-inbox"),
        {"status": "lost"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="conversation-list",
    ).content.decode()
    assert 'data-filter-error="status"' in bad and "status must be one of" in bad


def test_assigned_to_me_filter(inbox, account):
    admin = make_member(account, "admin")
    Conversation.objects.filter(pk=inbox["ben"].pk).update(assigned_to=admin)
    client = login_client(admin)
    html = client.get(reverse("conversation-inbox"), {"assigned": "me"}).content.decode()
    assert rows(html, inbox) == ["ben"]


def test_opening_a_thread_marks_it_read_and_shows_bubbles_both_ways(inbox, admin_web):
    ana = inbox["ana"]
    text_in(ANA, OURS, "Also bringing a friend")
    assert Conversation.objects.get(pk=ana.pk).unread == 2
    page = admin_web.get(reverse("conversation-thread", args=[ana.pk])).content.decode()
    assert Conversation.objects.get(pk=ana.pk).unread == 0
    assert page.index("Count me in for Saturday") < page.index("Also bringing a friend")
    assert page.count("bubble bubble-in") == 2
    assert "Ana Lopez" in page and ANA in page
    assert reverse("contact-detail", args=[ana.contact_id]) in page


def test_reply_is_queued_from_the_sticky_number_and_shown_with_its_status(inbox, admin_web):
    ana = inbox["ana"]
    response = admin_web.post(
        reverse("conversation-reply", args=[ana.pk]),
        {"body": "Great, {first_name}! See you there."},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "inbox:sent"
    message = Message.objects.get(direction="outbound", to_number=ANA)
    assert message.from_number == OURS
    assert message.body.startswith("Great, Ana! See you there.")
    bubbles = admin_web.get(reverse("conversation-messages", args=[ana.pk])).content.decode()
    assert "bubble bubble-out" in bubbles and "Queued" in bubbles


def test_a_blocked_reply_says_why_and_queues_nothing(inbox, admin_web):
    from contacts.models import Contact

    Contact.objects.filter(phone=BEN).update(sms_status="opted_out")
    response = admin_web.post(
        reverse("conversation-reply", args=[inbox["ben"].pk]),
        {"body": "Hello?"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "opted out" in response.content.decode()
    assert not Message.objects.filter(direction="outbound").exists()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def test_a_reply_with_an_attached_image_goes_as_mms_and_shows_it(
    inbox, admin_web, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    ana = inbox["ana"]
    response = admin_web.post(
        reverse("conversation-reply", args=[ana.pk]),
        {"body": "Here is the flyer", "file": SimpleUploadedFile("flyer.png", _png())},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200, response.content.decode()
    message = Message.objects.get(direction="outbound", to_number=ANA)
    (media,) = Media.objects.filter(account=ana.account, pk__in=message.media_ids)
    assert (media.original_name, media.content_type) == ("flyer.png", "image/png")
    bubbles = admin_web.get(reverse("conversation-messages", args=[ana.pk])).content.decode()
    # The image inline, by its signed URL (the one the provider fetches).
    assert '<img class="bubble-media" src="/m/' in bubbles
    assert f"/{media.pk}.png" in bubbles


def test_an_unsupported_attachment_is_refused_by_name_and_nothing_is_sent(
    inbox, admin_web, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    response = admin_web.post(
        reverse("conversation-reply", args=[inbox["ana"].pk]),
        {"body": "See attached", "file": SimpleUploadedFile("notes.png", b"just some text")},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "notes.png: Unsupported file type" in page
    assert "See attached" in page  # the text is kept to send again
    assert not Message.objects.filter(direction="outbound").exists()
    assert not Media.objects.exists()


def test_an_attachment_alone_is_a_reply(inbox, admin_web, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    response = admin_web.post(
        reverse("conversation-reply", args=[inbox["ben"].pk]),
        {"body": "", "file": SimpleUploadedFile("map.png", _png())},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200, response.content.decode()
    assert Message.objects.get(direction="outbound", to_number=BEN).media_ids


def test_older_messages_load_by_keyset(inbox, admin_web):
    ana = inbox["ana"]
    for i in range(55):
        text_in(ANA, OURS, f"message number {i:02d}")
    page = admin_web.get(reverse("conversation-thread", args=[ana.pk])).content.decode()
    assert "message number 54" in page and "Count me in for Saturday" not in page
    assert "data-older-url" in page
    older_url = page.split('data-older-url="')[1].split('"')[0].replace("&amp;", "&")
    older = admin_web.get(older_url).content.decode()
    assert "Count me in for Saturday" in older and "message number 54" not in older


def test_controls_resolve_assign_snooze_tag_and_spam(inbox, admin_web, account):
    ben = inbox["ben"]
    url = reverse("conversation-update", args=[ben.pk])
    hx = {"HTTP_HX_REQUEST": "true"}
    assert admin_web.post(url, {"action": "resolve"}, **hx).status_code == 200
    assert Conversation.objects.get(pk=ben.pk).status == "resolved"
    admin_web.post(url, {"action": "assign", "assigned_to": inbox["field"].pk}, **hx)
    assert Conversation.objects.get(pk=ben.pk).assigned_to_id == inbox["field"].pk
    admin_web.post(url, {"action": "tags", "tags": "volunteer, #rsvp"}, **hx)
    assert Conversation.objects.get(pk=ben.pk).tags == ["volunteer", "rsvp"]
    bad = admin_web.post(url, {"action": "snooze", "snooze_until": "2001-01-01T09:00"}, **hx)
    assert bad.status_code == 400 and "in the future" in bad.content.decode()
    assert Conversation.objects.get(pk=ben.pk).status == "resolved"
    admin_web.post(url, {"action": "snooze", "snooze_until": "2099-01-01T09:00"}, **hx)
    assert Conversation.objects.get(pk=ben.pk).status == "snoozed"
    admin_web.post(url, {"action": "spam"}, **hx)
    assert Conversation.objects.get(pk=ben.pk).status == "spam"
    assert DncEntry.objects.filter(account=account, phone=BEN).exists()


def test_macro_send_reports_each_conversation(inbox, admin_web, account):
    from contacts.models import Contact

    macro = Macro.objects.create(account=account, name="Thanks", body="Thanks {first_name}!")
    Contact.objects.filter(phone=BEN).update(sms_status="opted_out")
    response = admin_web.post(
        reverse("macro-send"),
        {"macro": macro.pk, "conversation": [inbox["ana"].pk, inbox["ben"].pk]},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "1 of 2 queued" in html
    assert f'data-outcome="{inbox["ana"].pk}" data-status="queued"' in html
    assert f'data-outcome="{inbox["ben"].pk}" data-status="refused"' in html
    assert "opted out" in html
    assert Message.objects.get(direction="outbound").body.startswith("Thanks Ana!")
    nothing = admin_web.post(reverse("macro-send"), {"macro": macro.pk}, HTTP_HX_REQUEST="true")
    assert nothing.status_code == 400 and "at least one conversation" in nothing.content.decode()


def test_macros_page_creates_edits_and_deletes(account, admin_web, member_client):
    url = reverse("macro-list")
    assert admin_web.post(url, {"name": "Hours", "body": "We open at 9."}).status_code == 302
    macro = Macro.objects.get(account=account, name="Hours")
    dup = admin_web.post(url, {"name": "Hours", "body": "Again"})
    assert dup.status_code == 400 and "exists already" in dup.content.decode()
    edit = reverse("macro-edit", args=[macro.pk])
    assert admin_web.post(edit, {"name": "Hours", "body": "We open at 10."}).status_code == 302
    assert Macro.objects.get(pk=macro.pk).body == "We open at 10."
    viewer = member_client("viewer")
    assert "We open at 10." in viewer.get(url).content.decode()
    assert viewer.post(url, {"name": "X", "body": "Y"}).status_code == 403
    assert admin_web.post(reverse("macro-delete", args=[macro.pk])).status_code == 302
    assert not Macro.objects.filter(pk=macro.pk).exists()


def test_campaign_tab_lists_only_that_campaigns_conversations(inbox, admin_web, account):
    campaign = Campaign.objects.create(
        account=account, name="Rally", body="Hi", status=CampaignStatus.COMPLETED
    )
    Conversation.objects.filter(pk=inbox["ben"].pk).update(campaign_id=campaign.pk)
    html = admin_web.get(
        reverse("campaign-tab", args=[campaign.pk, "conversations"])
    ).content.decode()
    assert rows(html, inbox) == ["ben"]
    assert f'name="campaign" value="{campaign.pk}"' in html


def test_dashboard_recent_replies_follow_the_scope(inbox, admin_web):
    admin_html = admin_web.get(reverse("dashboard")).content.decode()
    assert "who is this" in admin_html and "Where is the rally?" in admin_html
    assert 'data-live-inbox="feed"' in admin_html
    field_html = login_client(inbox["field"]).get(reverse("dashboard")).content.decode()
    assert "Count me in for Saturday" in field_html
    assert "who is this" not in field_html and "Where is the rally?" not in field_html
    feed = admin_web.get(reverse("conversation-recent")).content.decode()
    assert "who is this" in feed and "<html" not in feed
