"""Macro send caps the conversations per request (settings.MACRO_SEND_MAX_CONVERSATIONS)
and reads the ids in linear time (issue 14 item 9: 100,000 ids took 47 s of web CPU per
request)."""

import time

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.models import Conversation, Macro
from tests.factories import api_client, make_account, make_contact, make_member, make_number
from tests.ui.conftest import login_client
from texting.models import Message

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("daytime_recipients", "_plain_static_storage"),
]

OURS = "+19715550901"
PHONES = ("+15035550911", "+15035550912", "+15035550913")


@pytest.fixture
def _plain_static_storage(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def inbox():
    account = make_account("macro-cap")
    make_number(account, OURS)
    admin = make_member(account, "admin", "cap-admin")
    threads = [
        Conversation.objects.create(
            account=account,
            contact=make_contact(account, phone, first_name=f"P{i}"),
            phone=phone,
            our_number=OURS,
            last_message_at=timezone.now(),
        )
        for i, phone in enumerate(PHONES)
    ]
    macro = Macro.objects.create(account=account, name="Thanks", body="Thanks {first_name}!")
    return account, admin, threads, macro


def test_a_hundred_thousand_ids_are_refused_at_once_naming_the_cap(inbox):
    account, admin, threads, macro = inbox
    ids = [t.pk for t in threads] + list(range(10**9, 10**9 + 99_997))
    api = api_client(admin, account)
    assert api.get(f"/api/v1/macros/{macro.pk}/").status_code == 200  # URLconf imported

    started = time.monotonic()
    response = api.post(
        f"/api/v1/macros/{macro.pk}/send/", {"conversation_ids": ids}, format="json"
    )
    elapsed = time.monotonic() - started

    assert response.status_code == 400, response.content[:200]
    assert elapsed < 2.0, f"refusing 100,000 ids took {elapsed:.1f} s"
    message = response.json()["conversation_ids"][0]
    assert "At most 500 conversations at once" in message and "100,000" in message
    assert not Message.objects.exists()


def test_the_cap_is_a_setting_and_holds_for_the_inbox_form_too(inbox, settings):
    settings.MACRO_SEND_MAX_CONVERSATIONS = 2
    account, admin, threads, macro = inbox

    api = api_client(admin, account).post(
        f"/api/v1/macros/{macro.pk}/send/",
        {"conversation_ids": [t.pk for t in threads]},
        format="json",
    )
    page = login_client(admin).post(
        reverse("macro-send"),
        {"macro": macro.pk, "conversation": [t.pk for t in threads]},
        HTTP_HX_REQUEST="true",
    )

    assert api.status_code == 400 and "At most 2 conversations" in api.json()["conversation_ids"][0]
    assert page.status_code == 400 and "At most 2 conversations" in page.content.decode()
    assert not Message.objects.exists()


def test_a_full_request_of_500_ids_with_repeats_is_answered_per_conversation(inbox):
    account, admin, threads, macro = inbox
    # The three threads (the first twice), then ids of no conversation up to the cap.
    ids = [threads[0].pk, threads[1].pk, threads[0].pk, threads[2].pk]
    ids += list(range(10**9, 10**9 + 500 - len(ids)))

    response = api_client(admin, account).post(
        f"/api/v1/macros/{macro.pk}/send/", {"conversation_ids": ids}, format="json"
    )

    assert response.status_code == 200, response.content[:300]
    results = response.json()["results"]
    assert len(results) == 499  # the repeat answered once
    assert [r["conversation_id"] for r in results[:3]] == [t.pk for t in threads]
    assert {r["status"] for r in results[:3]} == {"queued"}
    assert {(r["status"], r["reason"]) for r in results[3:]} == {("refused", "not_found")}
    assert sorted(Message.objects.values_list("body", flat=True)) == [
        "Thanks P0!",
        "Thanks P1!",
        "Thanks P2!",
    ]


@pytest.mark.parametrize("bad", [["12x"], [True], [1.5], [[1]], "12", ["²"], ["٣"], ["9" * 5000]])
def test_ids_that_are_not_whole_numbers_are_a_400_naming_the_field(inbox, bad):
    account, admin, _, macro = inbox
    response = api_client(admin, account).post(
        f"/api/v1/macros/{macro.pk}/send/", {"conversation_ids": bad}, format="json"
    )
    assert response.status_code == 400 and "conversation_ids" in response.json()
    assert not Message.objects.exists()
