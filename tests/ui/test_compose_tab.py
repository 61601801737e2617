"""The Compose tab: live counter, preview bubble for a sample recipient, save."""

import pytest

from tests.factories import make_contact
from texting.models import Campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(account):
    ana = make_contact(account, first_name="Ana")
    return Campaign.objects.create(
        account=account,
        name="GOTV",
        body="Hi {first_name|there}!",
        audience={"contact_ids": [ana.pk]},
    )


def test_compose_tab_shows_counter_and_rendered_bubble(member_client, draft):
    page = member_client("manager").get(f"/campaigns/{draft.pk}/compose/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Hi {first_name|there}!</textarea>" in html
    assert "Hi Ana!\nReply STOP to opt out.</div>" in html  # the bubble, stop appended
    assert "GSM-7" in html and "data-merge" in html


def test_counter_marks_the_characters_that_force_ucs2(member_client, draft):
    response = member_client("manager").post(
        f"/campaigns/{draft.pk}/compose/counter/", {"body": "Más café 😜", "stop_language": ""}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "UCS-2" in html and "<mark>á</mark>" in html and "<mark>😜</mark>" in html
    assert "<mark>é</mark>" not in html  # é is GSM-7


def test_save_updates_the_draft_and_refuses_unknown_fields(member_client, draft):
    client = member_client("manager")
    saved = client.post(
        f"/campaigns/{draft.pk}/compose/save/",
        {"body": "Hello {preferred_name|friend}", "stop_language": "Text STOP to quit."},
    )
    assert saved.status_code == 302
    draft.refresh_from_db()
    assert (draft.body, draft.stop_language) == (
        "Hello {preferred_name|friend}",
        "Text STOP to quit.",
    )
    bad = client.post(f"/campaigns/{draft.pk}/compose/save/", {"body": "Hi {nick}"})
    assert bad.status_code == 400 and "{nick}" in bad.content.decode()
    assert Campaign.objects.get(pk=draft.pk).body == "Hello {preferred_name|friend}"


def test_viewer_cannot_save(member_client, draft):
    response = member_client("viewer").post(f"/campaigns/{draft.pk}/compose/save/", {"body": "x"})
    assert response.status_code == 403
