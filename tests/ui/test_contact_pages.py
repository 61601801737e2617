import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact
from tests.factories import make_contact, make_event

pytestmark = pytest.mark.django_db


def test_contact_list_shows_only_the_current_accounts_contacts(account, other_account, admin_web):
    make_contact(account, first_name="Ana", last_name="Alvarez")
    make_contact(other_account, first_name="Bruno", last_name="Bravo")
    response = admin_web.get(reverse("contact-list"))
    assert response.status_code == 200
    assert b"Ana Alvarez" in response.content
    assert b"Bruno" not in response.content


def test_another_accounts_contact_is_a_404(other_account, admin_web):
    theirs = make_contact(other_account, first_name="Bruno")
    for name in ("contact-detail", "contact-edit", "contact-delete"):
        assert admin_web.get(reverse(name, args=[theirs.pk])).status_code == 404
    assert admin_web.post(reverse("contact-delete", args=[theirs.pk])).status_code == 404
    assert Contact.objects.filter(pk=theirs.pk).exists()


def test_search_filters_by_name_city_and_phone_digits(account, admin_web):
    make_contact(account, "+15035550111", first_name="Ana", city="Portland")
    make_contact(account, "+12065550122", first_name="Ben", city="Seattle")
    by_name = admin_web.get(reverse("contact-list"), {"q": "ana"})
    assert b"Ana" in by_name.content and b"Ben" not in by_name.content
    by_city = admin_web.get(reverse("contact-list"), {"q": "seattle"})
    assert b"Ben" in by_city.content and b"Ana" not in by_city.content
    by_digits = admin_web.get(reverse("contact-list"), {"q": "206555"})
    assert b"Ben" in by_digits.content and b"Ana" not in by_digits.content


def test_htmx_search_returns_only_the_table_partial(account, admin_web):
    make_contact(account, first_name="Ana")
    full = admin_web.get(reverse("contact-list"), {"q": "ana"})
    partial = admin_web.get(reverse("contact-list"), {"q": "ana"}, HTTP_HX_REQUEST="true")
    assert b"<html" in full.content
    assert b"<html" not in partial.content
    assert b"Ana" in partial.content
    assert [t.name for t in partial.templates][0] == "contacts/_table.html"
    assert "contacts/_table.html" in [t.name for t in full.templates]
    assert "HX-Request" in partial["Vary"]


def test_list_is_paginated_by_fifty(account, admin_web):
    for i in range(55):
        make_contact(account, f"+1503555{i:04d}", first_name=f"P{i:02d}", last_name="Zed")
    first = admin_web.get(reverse("contact-list"))
    assert len(first.context["page"].object_list) == 50
    assert b"page 1 of 2" in first.content
    second = admin_web.get(reverse("contact-list"), {"page": 2})
    assert len(second.context["page"].object_list) == 5


def test_timezone_default_marker(account, admin_web):
    make_contact(account, "+18005550199", first_name="Tollfree")  # no zone from toll-free
    html = admin_web.get(reverse("contact-list")).content.decode()
    assert ">default</span>" in html


def test_viewer_sees_no_add_button_and_cannot_post(member_client):
    viewer = member_client("viewer")
    page = viewer.get(reverse("contact-list"))
    assert page.status_code == 200
    assert b"Add contact" not in page.content
    response = viewer.post(reverse("contact-add"), {"phone": "(503) 555-0142", "pool": "contact"})
    assert response.status_code == 403
    assert b"can\xe2\x80\x99t do that" in response.content
    assert not Contact.objects.exists()


def test_admin_adds_a_contact_with_a_messy_phone(account, admin_web):
    response = admin_web.post(
        reverse("contact-add"),
        {"phone": "(503) 555-0142", "first_name": "Grace", "state": "or", "pool": "contact"},
        follow=True,
    )
    contact = Contact.objects.get(account=account)
    assert contact.phone == "+15035550142"
    assert contact.state == "OR"
    assert response.redirect_chain[-1][0] == reverse("contact-detail", args=[contact.pk])
    assert b"+15035550142" in response.content


def test_a_phone_typed_with_a_full_width_digit_is_the_existing_contact(account, admin_web):
    """Issue 14: `503-5５5-0142` was stored as `+15035５50142`, a second contact."""
    existing = make_contact(account, "+15035550142", first_name="Grace")
    response = admin_web.post(
        reverse("contact-add"), {"phone": "503-5５5-0142", "pool": "contact"}, follow=True
    )
    assert b"already existed" in response.content
    assert list(Contact.objects.filter(account=account)) == [existing]


def test_adding_an_existing_phone_updates_that_contact(account, admin_web):
    existing = make_contact(account, "+15035550142", first_name="Old", city="Salem")
    response = admin_web.post(
        reverse("contact-add"),
        {"phone": "503-555-0142", "first_name": "New", "pool": "contact"},
        follow=True,
    )
    assert b"already existed" in response.content
    existing.refresh_from_db()
    assert existing.first_name == "New"
    assert existing.city == "Salem"  # blank fields do not erase
    assert Contact.objects.filter(account=account).count() == 1


def test_invalid_phone_shows_a_field_error_and_creates_nothing(admin_web):
    response = admin_web.post(reverse("contact-add"), {"phone": "555-12", "pool": "contact"})
    assert response.status_code == 200
    assert "phone" in response.context["form"].errors
    assert b'id="id_phone_error"' in response.content
    assert not Contact.objects.exists()


def test_edit_changes_the_contact_and_refuses_a_taken_phone(account, admin_web):
    ana = make_contact(account, "+15035550111", first_name="Ana")
    make_contact(account, "+15035550122", first_name="Ben")
    url = reverse("contact-edit", args=[ana.pk])
    assert admin_web.get(url).context["form"].initial["phone"] == "+15035550111"
    taken = admin_web.post(url, {"phone": "503 555 0122", "first_name": "Ana", "pool": "contact"})
    assert "phone" in taken.context["form"].errors
    admin_web.post(url, {"phone": "+1 503 555 0111", "first_name": "Anita", "pool": "voter"})
    ana.refresh_from_db()
    assert (ana.first_name, ana.pool) == ("Anita", "voter")


def test_viewer_cannot_edit_or_delete(account, member_client):
    ana = make_contact(account, first_name="Ana")
    viewer = member_client("viewer")
    detail = viewer.get(reverse("contact-detail", args=[ana.pk]))
    assert b">Edit</a>" not in detail.content
    assert viewer.get(reverse("contact-edit", args=[ana.pk])).status_code == 403
    assert viewer.post(reverse("contact-delete", args=[ana.pk])).status_code == 403
    assert Contact.objects.filter(pk=ana.pk).exists()


def test_delete_asks_then_deletes(account, admin_web):
    ana = make_contact(account, first_name="Ana")
    url = reverse("contact-delete", args=[ana.pk])
    confirm = admin_web.get(url)
    assert b"cannot be undone" in confirm.content
    assert Contact.objects.filter(pk=ana.pk).exists()
    response = admin_web.post(url)
    assert response.status_code == 302 and response.url == reverse("contact-list")
    assert not Contact.objects.filter(pk=ana.pk).exists()


def test_detail_shows_fields_timezone_and_history_newest_first(account, admin_web):
    ana = make_contact(
        account,
        "+15415550123",
        first_name="Ana",
        city="Ontario",
        state="OR",
        zip="97914",
        custom_fields={"precinct": "12B"},
    )
    now = timezone.now()
    make_event(ana, "sms_sent", campaign_id=42, at=now - datetime.timedelta(hours=2))
    make_event(ana, "sms_received", at=now, data={"text": "Yes, I will vote"})
    html = admin_web.get(reverse("contact-detail", args=[ana.pk])).content.decode()
    assert "Ontario" in html and "precinct" in html and "12B" in html
    assert ana.timezone in html
    for zone in ana.timezone_candidates:
        assert zone in html
    assert ana.get_timezone_source_display() in html
    assert "Yes, I will vote" in html and "#42" in html
    assert html.index("SMS received") < html.index("SMS sent")


def test_adding_an_existing_voter_keeps_their_pool_unless_changed(account, admin_web):
    voter = make_contact(account, "+15035550143", pool="voter")
    admin_web.post(reverse("contact-add"), {"phone": "503-555-0143", "pool": "contact"})
    voter.refresh_from_db()
    assert voter.pool == "voter"  # the form's default is not a decision


def test_the_form_rejects_unknown_states_and_bad_zips(account, admin_web):
    response = admin_web.post(
        reverse("contact-add"),
        {"phone": "503-555-0144", "state": "ZZ", "zip": "9720", "pool": "contact"},
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"state", "zip"}
    assert not Contact.objects.filter(phone="+15035550144").exists()
