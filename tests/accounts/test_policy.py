"""One policy for the API and the pages: every action × every role, through both.

The table below is the spec's role matrix (product-spec §16) written as actions; each
action is tried by each role through the API and through the page (the form or htmx
post the UI makes), on a fresh account. Allowed: a success answer and the change made.
Refused: 403 and nothing changed. The two channels run the same cases, so they cannot
disagree again (issue 14 item 11: a field user could reassign through the API, edit and
delete an admin's macros, and put numbers on the do-not-contact list by marking a
thread as spam).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from compliance.models import DncEntry
from contacts.models import Contact
from conversations.models import Conversation, Macro
from tests.factories import api_client, make_account, make_contact, make_number
from texting.models import Campaign, CampaignStatus, Message, MessageTemplate

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("_plain_static_storage", "daytime_recipients"),
]

ROLES = ("admin", "manager", "field", "viewer")
ALL = frozenset(ROLES)
STAFF = frozenset({"admin", "manager"})  # compose, send, the DNC list
WORKERS = frozenset({"admin", "manager", "field"})  # reply in the threads they see
ADMIN = frozenset({"admin"})

OURS, THEM, CONTACT, NEW_DNC = "+19715550701", "+15035550702", "+15035550703", "+15035550704"
LISTED = "+15035550705"
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def _plain_static_storage(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _member(account, role: str, username: str):
    # No password hashing: these users log in by token and force_login.
    user = get_user_model().objects.create(username=username)
    Membership.objects.create(user=user, account=account, role=role)
    return user


@dataclass
class World:
    role: str
    actor: Any
    owner: Any  # another admin: the author of "their" macro, an assignee
    thread: Conversation  # assigned to the actor, so every role sees it
    contact: Contact
    own_macro: Macro
    their_macro: Macro
    dnc_entry: DncEntry
    campaign: Campaign  # sending
    own_template: MessageTemplate
    their_template: MessageTemplate  # shared by the other admin

    def api(self):
        return api_client(self.actor, self.thread.account)

    def web(self) -> Client:
        client = Client()
        client.force_login(self.actor)
        return client


def make_world(role: str) -> World:
    account = make_account("policy")
    actor = _member(account, role, f"the-{role}")
    owner = _member(account, "admin", "owner")
    ours = make_number(account, OURS)
    them = make_contact(account, THEM, first_name="Tess")
    thread = Conversation.objects.create(
        account=account,
        contact=them,
        phone=THEM,
        our_number=OURS,
        assigned_to=actor,
        last_message_at=timezone.now(),
    )
    return World(
        role=role,
        actor=actor,
        owner=owner,
        thread=thread,
        contact=make_contact(account, CONTACT, first_name="Carl"),
        own_macro=Macro.objects.create(
            account=account, name="Mine", body="Mine here", created_by=actor
        ),
        their_macro=Macro.objects.create(
            account=account, name="Theirs", body="Theirs here", created_by=owner
        ),
        dnc_entry=DncEntry.objects.create(account=account, phone=LISTED, reason="manual"),
        campaign=Campaign.objects.create(
            account=account,
            name="Live one",
            body="Hi",
            status=CampaignStatus.SENDING,
            sender_ids=[ours.pk],
        ),
        own_template=MessageTemplate.objects.create(
            account=account, name="My template", body="Mine", created_by=actor
        ),
        their_template=MessageTemplate.objects.create(
            account=account, name="Team template", body="Theirs", created_by=owner, shared=True
        ),
    )


def _thread_status(w: World) -> str:
    return Conversation.objects.get(pk=w.thread.pk).status


@dataclass(frozen=True)
class Action:
    name: str
    allowed: frozenset[str]
    api: Callable[[World], Any] | None
    ui: Callable[[World], Any] | None
    done: Callable[[World], bool]


def _conv(w: World) -> str:
    return f"/api/v1/conversations/{w.thread.pk}/"


def _update(w: World, **data) -> Any:
    return w.web().post(reverse("conversation-update", args=[w.thread.pk]), data, **HX)


ACTIONS = [
    Action(
        "conversation.read",
        ALL,
        api=lambda w: w.api().get(_conv(w) + "messages/"),
        ui=lambda w: w.web().get(reverse("conversation-thread", args=[w.thread.pk])),
        done=lambda w: True,
    ),
    Action(
        "conversation.reply",
        WORKERS,
        api=lambda w: w.api().post(_conv(w) + "messages/", {"body": "On my way"}, format="json"),
        ui=lambda w: w.web().post(
            reverse("conversation-reply", args=[w.thread.pk]), {"body": "On my way"}, **HX
        ),
        done=lambda w: Message.objects.filter(to_number=THEM, body="On my way").exists(),
    ),
    Action(
        "conversation.resolve",
        WORKERS,
        api=lambda w: w.api().patch(_conv(w), {"status": "resolved"}, format="json"),
        ui=lambda w: _update(w, action="resolve"),
        done=lambda w: _thread_status(w) == "resolved",
    ),
    Action(
        "conversation.assign",
        STAFF,
        api=lambda w: w.api().patch(_conv(w), {"assigned_to": w.owner.pk}, format="json"),
        ui=lambda w: _update(w, action="assign", assigned_to=w.owner.pk),
        done=lambda w: Conversation.objects.get(pk=w.thread.pk).assigned_to_id == w.owner.pk,
    ),
    Action(
        # Marking spam puts the phone on the do-not-contact list: the DNC capability.
        "conversation.mark_spam",
        STAFF,
        api=lambda w: w.api().patch(_conv(w), {"status": "spam"}, format="json"),
        ui=lambda w: _update(w, action="spam"),
        done=lambda w: _thread_status(w) == "spam" or DncEntry.objects.filter(phone=THEM).exists(),
    ),
    Action(
        "macro.create",
        WORKERS,
        api=lambda w: w.api().post(
            "/api/v1/macros/", {"name": "New", "body": "New one"}, format="json"
        ),
        ui=lambda w: w.web().post(reverse("macro-list"), {"name": "New", "body": "New one"}),
        done=lambda w: Macro.objects.filter(name="New").exists(),
    ),
    Action(
        "macro.edit_own",
        WORKERS,
        api=lambda w: w.api().patch(
            f"/api/v1/macros/{w.own_macro.pk}/", {"body": "Edited"}, format="json"
        ),
        ui=lambda w: w.web().post(
            reverse("macro-edit", args=[w.own_macro.pk]), {"name": "Mine", "body": "Edited"}
        ),
        done=lambda w: Macro.objects.get(pk=w.own_macro.pk).body == "Edited",
    ),
    Action(
        "macro.delete_own",
        WORKERS,
        api=lambda w: w.api().delete(f"/api/v1/macros/{w.own_macro.pk}/"),
        ui=lambda w: w.web().post(reverse("macro-delete", args=[w.own_macro.pk])),
        done=lambda w: not Macro.objects.filter(pk=w.own_macro.pk).exists(),
    ),
    Action(
        "macro.edit_any",
        STAFF,
        api=lambda w: w.api().patch(
            f"/api/v1/macros/{w.their_macro.pk}/", {"body": "Edited"}, format="json"
        ),
        ui=lambda w: w.web().post(
            reverse("macro-edit", args=[w.their_macro.pk]), {"name": "Theirs", "body": "Edited"}
        ),
        done=lambda w: Macro.objects.get(pk=w.their_macro.pk).body == "Edited",
    ),
    Action(
        "macro.delete_any",
        STAFF,
        api=lambda w: w.api().delete(f"/api/v1/macros/{w.their_macro.pk}/"),
        ui=lambda w: w.web().post(reverse("macro-delete", args=[w.their_macro.pk])),
        done=lambda w: not Macro.objects.filter(pk=w.their_macro.pk).exists(),
    ),
    Action(
        "macro.send",
        WORKERS,
        api=lambda w: w.api().post(
            f"/api/v1/macros/{w.their_macro.pk}/send/",
            {"conversation_ids": [w.thread.pk]},
            format="json",
        ),
        ui=lambda w: w.web().post(
            reverse("macro-send"), {"macro": w.their_macro.pk, "conversation": w.thread.pk}, **HX
        ),
        done=lambda w: Message.objects.filter(to_number=THEM, body="Theirs here").exists(),
    ),
    Action(
        "dnc.add",
        STAFF,
        api=lambda w: w.api().post("/api/v1/dnc/", {"phone": NEW_DNC}, format="json"),
        ui=lambda w: w.web().post(reverse("dnc-add"), {"phone": NEW_DNC}),
        done=lambda w: DncEntry.objects.filter(phone=NEW_DNC).exists(),
    ),
    Action(
        "dnc.remove",
        STAFF,
        api=lambda w: w.api().delete(f"/api/v1/dnc/{w.dnc_entry.pk}/"),
        ui=lambda w: w.web().post(reverse("dnc-remove", args=[w.dnc_entry.pk])),
        done=lambda w: not DncEntry.objects.filter(pk=w.dnc_entry.pk).exists(),
    ),
    Action(
        "contact.mark_spam",
        STAFF,
        api=lambda w: w.api().post(f"/api/v1/contacts/{w.contact.pk}/spam/"),
        ui=lambda w: w.web().post(reverse("contact-spam", args=[w.contact.pk])),
        done=lambda w: DncEntry.objects.filter(phone=CONTACT).exists(),
    ),
    Action(
        "contact.edit",
        STAFF,
        api=lambda w: w.api().patch(
            f"/api/v1/contacts/{w.contact.pk}/", {"first_name": "Edited"}, format="json"
        ),
        ui=lambda w: w.web().post(
            reverse("contact-edit", args=[w.contact.pk]),
            {"phone": CONTACT, "first_name": "Edited", "pool": "contact"},
        ),
        done=lambda w: Contact.objects.get(pk=w.contact.pk).first_name == "Edited",
    ),
    Action(
        "campaign.compose",
        STAFF,
        api=lambda w: w.api().post("/api/v1/campaigns/", {"name": "Drafted"}, format="json"),
        ui=lambda w: w.web().post(
            reverse("campaign-new"), {"name": "Drafted", "mode": "relationship"}
        ),
        done=lambda w: Campaign.objects.filter(name="Drafted").exists(),
    ),
    Action(
        # Safety: anyone who can see a live campaign can stop a runaway send.
        "campaign.pause",
        ALL,
        api=lambda w: w.api().post(f"/api/v1/campaigns/{w.campaign.pk}/pause/"),
        ui=lambda w: w.web().post(
            reverse("campaign-status-control", args=[w.campaign.pk, "pause"]), **HX
        ),
        done=lambda w: Campaign.objects.get(pk=w.campaign.pk).status == CampaignStatus.PAUSED,
    ),
    Action(
        "campaign.resume",
        STAFF,
        api=lambda w: (
            Campaign.objects.filter(pk=w.campaign.pk).update(status=CampaignStatus.PAUSED),
            w.api().post(f"/api/v1/campaigns/{w.campaign.pk}/resume/"),
        )[1],
        ui=lambda w: (
            Campaign.objects.filter(pk=w.campaign.pk).update(status=CampaignStatus.PAUSED),
            w.web().post(reverse("campaign-status-control", args=[w.campaign.pk, "resume"]), **HX),
        )[1],
        done=lambda w: Campaign.objects.get(pk=w.campaign.pk).status == CampaignStatus.SENDING,
    ),
    Action(
        "template.edit_own",
        STAFF,
        api=lambda w: w.api().patch(
            f"/api/v1/templates/{w.own_template.pk}/", {"body": "Edited"}, format="json"
        ),
        ui=lambda w: w.web().post(
            reverse("template-change", args=[w.own_template.pk, "edit"]),
            {"name": "My template", "body": "Edited"},
        ),
        done=lambda w: MessageTemplate.objects.get(pk=w.own_template.pk).body == "Edited",
    ),
    Action(
        "template.edit_any",
        ADMIN,
        api=lambda w: w.api().patch(
            f"/api/v1/templates/{w.their_template.pk}/", {"body": "Edited"}, format="json"
        ),
        ui=lambda w: w.web().post(
            reverse("template-change", args=[w.their_template.pk, "edit"]),
            {"name": "Team template", "body": "Edited", "shared": "on"},
        ),
        done=lambda w: MessageTemplate.objects.get(pk=w.their_template.pk).body == "Edited",
    ),
    Action(
        "template.delete_any",
        ADMIN,
        api=lambda w: w.api().delete(f"/api/v1/templates/{w.their_template.pk}/"),
        ui=lambda w: w.web().post(reverse("template-change", args=[w.their_template.pk, "delete"])),
        done=lambda w: not MessageTemplate.objects.filter(pk=w.their_template.pk).exists(),
    ),
    Action(
        "numbers.view",
        STAFF,
        api=lambda w: w.api().get("/api/v1/numbers/"),
        ui=lambda w: w.web().get(reverse("number-list")),
        done=lambda w: True,
    ),
]

CASES = [
    pytest.param(action, role, channel, id=f"{action.name}-{role}-{channel}")
    for action in ACTIONS
    for role in ROLES
    for channel in ("api", "ui")
    if getattr(action, channel) is not None
]


@pytest.mark.parametrize(("action", "role", "channel"), CASES)
def test_every_action_by_every_role_through_api_and_ui(action: Action, role: str, channel: str):
    world = make_world(role)
    response = getattr(action, channel)(world)

    if role in action.allowed:
        assert response.status_code in (200, 201, 204, 302), (
            f"{role} may {action.name} ({channel}): got {response.status_code} "
            f"{response.content[:300]!r}"
        )
        assert action.done(world), f"{role} was answered {response.status_code} but nothing changed"
    else:
        assert response.status_code == 403, (
            f"{role} may not {action.name} ({channel}): got {response.status_code}"
        )
        if action.name not in ("conversation.read", "numbers.view"):
            assert not action.done(world), f"{role} was refused but the change was made"


# --- the pages show a control only to those allowed to use it -------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_thread_page_shows_only_the_controls_the_role_may_use(role: str):
    world = make_world(role)
    page = world.web().get(reverse("conversation-thread", args=[world.thread.pk]))
    html = page.content.decode()

    assert page.status_code == 200
    assert ('id="reply-body"' in html) is (role in WORKERS)
    assert ('id="assign-to"' in html) is (role in STAFF)
    assert ('value="spam"' in html) is (role in STAFF)
    if role == "field":
        # Says why the button is missing: spam is a do-not-contact decision.
        assert "do-not-contact" in html and "admin or a manager" in html


@pytest.mark.parametrize("role", ROLES)
def test_the_macros_page_offers_edit_and_delete_only_where_allowed(role: str):
    world = make_world(role)
    html = world.web().get(reverse("macro-list")).content.decode()

    own_edit = reverse("macro-edit", args=[world.own_macro.pk])
    their_edit = reverse("macro-edit", args=[world.their_macro.pk])
    their_delete = reverse("macro-delete", args=[world.their_macro.pk])
    assert (own_edit in html) is (role in WORKERS)
    assert (their_edit in html) is (role in STAFF)
    assert (their_delete in html) is (role in STAFF)
    assert ("New macro" in html) is (role in WORKERS)


def test_a_field_users_spam_mark_is_refused_with_the_reason_and_lists_nothing():
    """A compliance officer's expectation: the do-not-contact list changes only by the
    roles that may change it, and a thread marked spam always means a listed number.
    So a field user's spam mark is refused (not a spam mark that skips the list)."""
    world = make_world("field")

    api = world.api().patch(_conv(world), {"status": "spam"}, format="json")
    page = _update(world, action="spam")

    assert api.status_code == 403 and "do-not-contact" in api.json()["detail"]
    assert page.status_code == 403 and "do-not-contact" in page.content.decode()
    assert _thread_status(world) == "open"
    assert not DncEntry.objects.filter(phone=THEM).exists()
    # Resolving, tagging and snoozing their own thread stay theirs.
    assert world.api().patch(_conv(world), {"tags": ["rude"]}, format="json").status_code == 200
