"""The do-not-contact page (search, add, remove, CSV import with the row-level result)
and the contact page's "Mark as spam" button."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from compliance.models import DncEntry
from compliance.suppression import dnc_add
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

ANA = "+15035550921"


def test_the_page_is_in_the_nav_and_lists_only_this_accounts_numbers(
    account, other_account, admin_web
):
    dnc_add(account=account, phone=ANA, reason="manual", note="asked at the door")
    dnc_add(account=other_account, phone="+15035550922", reason="manual")
    page = admin_web.get(reverse("dnc-list"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="{reverse("dnc-list")}" class="active"' in html
    assert ANA in html and "asked at the door" in html
    assert "+15035550922" not in html


def test_search_is_a_partial_for_htmx(account, admin_web):
    dnc_add(account=account, phone=ANA, reason="manual")
    dnc_add(account=account, phone="+19715550923", reason="manual")
    res = admin_web.get(reverse("dnc-list"), {"q": "971555"}, HTTP_HX_REQUEST="true")
    html = res.content.decode()
    assert "<html" not in html and "1 match" in html
    assert "+19715550923" in html and ANA not in html


def test_add_and_remove(account, admin_web):
    res = admin_web.post(
        reverse("dnc-add"), {"phone": "(503) 555-0921", "note": "rude"}, follow=True
    )
    assert f"{ANA} is on the do-not-contact list" in res.content.decode()
    entry = DncEntry.objects.get(account=account)
    assert (entry.phone, entry.reason, entry.note) == (ANA, "manual", "rude")

    bad = admin_web.post(reverse("dnc-add"), {"phone": "12"})
    assert bad.status_code == 200 and "not a" in bad.content.decode()
    assert DncEntry.objects.count() == 1

    res = admin_web.post(reverse("dnc-remove", args=[entry.pk]), follow=True)
    assert f"{ANA} is off the do-not-contact list" in res.content.decode()
    assert not DncEntry.objects.exists()


def test_import_shows_counts_and_the_rows_at_fault(account, admin_web):
    upload = SimpleUploadedFile(
        "door-knocks.csv", b"phone,name\n503-555-0921,Ana\nnot a phone,Ben\n503-555-0921,Ana\n"
    )
    res = admin_web.post(reverse("dnc-import"), {"file": upload})
    html = res.content.decode()
    assert res.status_code == 200 and "Import of door-knocks.csv" in html
    assert '<td data-label="Row">3</td>' in html and '<td data-label="Row">4</td>' in html
    assert "is repeated (first on row 2)" in html
    assert DncEntry.objects.get(account=account).phone == ANA


def test_readers_see_no_forms_and_may_not_change(account, member_client):
    entry, _ = dnc_add(account=account, phone=ANA, reason="manual")
    viewer = member_client("viewer")
    html = viewer.get(reverse("dnc-list")).content.decode()
    assert ANA in html and "Add to the list" not in html and "Remove" not in html
    assert viewer.post(reverse("dnc-add"), {"phone": "5035550922"}).status_code == 403
    assert viewer.post(reverse("dnc-remove", args=[entry.pk])).status_code == 403
    assert DncEntry.objects.count() == 1


def test_another_accounts_entry_cannot_be_removed(other_account, admin_web):
    theirs, _ = dnc_add(account=other_account, phone=ANA, reason="manual")
    assert admin_web.post(reverse("dnc-remove", args=[theirs.pk])).status_code == 404
    assert DncEntry.objects.filter(pk=theirs.pk).exists()


def test_mark_as_spam_from_the_contact_page(account, admin_web, member_client):
    contact = make_contact(account, ANA, first_name="Ana")
    detail = reverse("contact-detail", args=[contact.pk])
    assert "Mark as spam" in admin_web.get(detail).content.decode()
    assert "Mark as spam" not in member_client("field").get(detail).content.decode()

    res = admin_web.post(reverse("contact-spam", args=[contact.pk]), follow=True)
    html = res.content.decode()
    assert "Marked as spam" in html and "On the do-not-contact list" in html
    assert DncEntry.objects.get(account=account).reason == "spam"
