"""The campaign's Recipients tab and the Contacts page's import, as pages (Django test
client): the eligibility panel, pasting numbers, uploading a CSV with its progress, and
the exclusions."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts.models import Contact, ContactImport, SmsStatus, Tribe, TribeMember
from contacts.tasks import import_contacts
from tests.factories import make_account, make_contact, make_member
from tests.ui.conftest import login_client
from texting.models import Campaign
from texting.techcheck import campaign_tech_check

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(account, admin_user):
    people = [make_contact(account, f"+1971555{i:04d}") for i in range(20, 25)]
    Contact.objects.filter(pk=people[0].pk).update(sms_status=SmsStatus.OPTED_OUT)
    Contact.objects.filter(pk=people[1].pk).update(sms_status=SmsStatus.NONE)
    return Campaign.objects.create(
        account=account,
        created_by=admin_user,
        name="Rally",
        audience={"contact_ids": [c.pk for c in people]},
    )


def tab(client, campaign):
    return client.get(reverse("campaign-tab", args=[campaign.pk, "recipients"]))


def test_the_tab_shows_the_audience_and_the_eligibility_panel(admin_web, draft):
    res = tab(admin_web, draft)
    assert res.status_code == 200
    html = res.content.decode()
    assert "5 chosen contacts." in html
    assert 'data-audit="total">5<' in html
    assert 'data-audit="eligible">3<' in html
    assert 'data-reason="opted_out"' in html and 'data-reason="no_opt_in"' in html
    assert "do-not-contact list" in html  # DNC is always on, and the tab says so
    assert 'data-form="paste"' in html and 'data-form="exclusions"' in html
    assert "data-tribe-picker" in html  # H7's picker, included on the tab


def test_a_viewer_sees_the_panel_but_no_forms(draft, member_client):
    html = tab(member_client("viewer"), draft).content.decode()
    assert 'data-audit="eligible">3<' in html
    assert 'data-form="paste"' not in html and 'data-form="exclusions"' not in html
    res = member_client("viewer").post(
        reverse("campaign-recipients-paste", args=[draft.pk]), {"numbers": "5035550100"}
    )
    assert res.status_code == 403
    assert not Tribe.objects.exists()


def test_pasting_numbers_makes_a_list_tribe_the_audience(account, admin_web, draft):
    make_contact(account, "+15035550130", sms_status=SmsStatus.OPTED_IN)
    res = admin_web.post(
        reverse("campaign-recipients-paste", args=[draft.pk]),
        {"numbers": "503-555-0130\n503-555-0131, nope\n503.555.0130", "list_name": "Walk list"},
    )
    assert res.status_code == 302
    tribe = Tribe.objects.get(account=account, name="Walk list")
    assert tribe.kind == "list"
    assert TribeMember.objects.filter(tribe=tribe).count() == 2
    draft.refresh_from_db()
    assert draft.audience == {"tribe_id": tribe.pk}
    new = Contact.objects.get(account=account, phone="+15035550131")
    assert new.sms_status == SmsStatus.NONE  # a pasted number brings no consent
    html = tab(admin_web, draft).content.decode()
    assert "The Tribe “Walk list” (list)." in html
    assert "Import into this list" in html and 'data-import="invalid">1<' in html
    assert 'data-audit="total">2<' in html and 'data-audit="eligible">1<' in html


def test_bad_paste_is_a_400_naming_the_problem_and_changes_nothing(admin_web, draft):
    many = "\n".join(f"50355{n:05d}" for n in range(10_001))
    res = admin_web.post(reverse("campaign-recipients-paste", args=[draft.pk]), {"numbers": many})
    assert res.status_code == 400
    assert "paste at most 10,000" in res.content.decode()
    draft.refresh_from_db()
    assert "contact_ids" in draft.audience and not Tribe.objects.exists()


def test_uploading_a_csv_shows_progress_until_the_worker_is_done(account, admin_web, draft):
    upload = SimpleUploadedFile(
        "walk.csv", b"First,Phone\nAna,5035550140\nBen,bad\n", content_type="text/csv"
    )
    res = admin_web.post(
        reverse("campaign-recipients-upload", args=[draft.pk]),
        {"file": upload, "pool": "contact", "list_name": "Uploaded"},
    )
    assert res.status_code == 302
    imp = ContactImport.objects.get()
    draft.refresh_from_db()
    assert draft.audience == {"tribe_id": imp.tribe_id}
    html = tab(admin_web, draft).content.decode()
    assert 'data-status="pending"' in html and 'hx-trigger="every 1s"' in html
    # Until the import is done the Tech Check refuses: a commit now would reach only
    # the rows imported so far.
    check = campaign_tech_check(campaign=draft)
    (audience,) = [c for c in check.checks if c.name == "audience"]
    assert not audience.ok and "still importing" in audience.message
    import_contacts(imp.pk)  # the worker
    check = campaign_tech_check(campaign=Campaign.objects.get(pk=draft.pk))
    assert "still importing" not in next(c for c in check.checks if c.name == "audience").message
    partial = admin_web.get(
        reverse("contact-import-detail", args=[imp.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'data-status="done"' in partial and "every 1s" not in partial
    assert "Download error report" in partial
    report = admin_web.get(reverse("contact-import-errors", args=[imp.pk]))
    assert b"3,bad," in report.content


def test_a_new_list_may_not_reuse_an_existing_tribes_name(account, admin_web, draft):
    """Reusing a name would make the whole existing list (plus these numbers) the
    audience: refused, naming the field, and nothing changes."""
    walk = Tribe.objects.create(account=account, name="Walk list", kind="list")
    TribeMember.objects.create(tribe=walk, contact=make_contact(account, "+15035550150"))
    res = admin_web.post(
        reverse("campaign-recipients-paste", args=[draft.pk]),
        {"numbers": "503-555-0151", "list_name": "Walk list"},
    )
    assert res.status_code == 400
    assert "exists already" in res.content.decode()
    draft.refresh_from_db()
    assert "contact_ids" in draft.audience
    assert TribeMember.objects.filter(tribe=walk).count() == 1


def test_exclusions_are_saved_and_validated(account, admin_web, draft):
    earlier = Campaign.objects.create(account=account, name="Earlier")
    stop = Tribe.objects.create(account=account, name="Staff", kind="list")
    url = reverse("campaign-recipients-exclusions", args=[draft.pk])
    res = admin_web.post(
        url,
        {
            "messaged_within_hours": "48",
            "replied_to_campaign": str(earlier.pk),
            "excluded_tribe_ids": [str(stop.pk)],
        },
    )
    assert res.status_code == 302
    draft.refresh_from_db()
    assert draft.exclusions == {
        "messaged_within_hours": 48,
        "replied_to_campaign": earlier.pk,
        "excluded_tribe_ids": [stop.pk],
    }
    res = admin_web.post(url, {"messaged_within_hours": "0"})
    assert res.status_code == 400
    draft.refresh_from_db()
    assert draft.exclusions["messaged_within_hours"] == 48


def test_a_committed_campaign_keeps_its_audience(admin_web, draft):
    Campaign.objects.filter(pk=draft.pk).update(status="completed")
    html = tab(admin_web, draft).content.decode()
    assert "its recipients were fixed when it was committed" in html
    assert 'data-form="paste"' not in html
    res = admin_web.post(
        reverse("campaign-recipients-paste", args=[draft.pk]), {"numbers": "5035550100"}
    )
    assert res.status_code == 409
    assert not Tribe.objects.exists()


def test_another_accounts_campaign_is_a_404(draft):
    other = make_account("zulu")
    outsider = login_client(make_member(other, "admin"))
    assert tab(outsider, draft).status_code == 404
    res = outsider.post(
        reverse("campaign-recipients-paste", args=[draft.pk]), {"numbers": "5035550100"}
    )
    assert res.status_code == 404


# --- The Contacts page's import ---------------------------------------------------------


def test_contacts_page_import_runs_in_the_background_with_progress(account, admin_web):
    assert "Import" in admin_web.get(reverse("contact-list")).content.decode()
    upload = SimpleUploadedFile("people.csv", b"phone,city\n5035550150,Salem\n")
    res = admin_web.post(
        reverse("contact-import"), {"file": upload, "pool": "voter", "tribe_name": ""}
    )
    imp = ContactImport.objects.get()
    assert res.status_code == 302 and res["Location"].endswith(f"/contacts/imports/{imp.pk}/")
    page = admin_web.get(res["Location"]).content.decode()
    assert 'role="progressbar"' in page and 'data-status="pending"' in page
    import_contacts(imp.pk)
    page = admin_web.get(res["Location"]).content.decode()
    assert 'data-import="created">1<' in page and "Every row was imported." in page
    assert Contact.objects.get(phone="+15035550150").pool == "voter"


def test_contacts_page_import_refuses_a_file_without_phones(admin_web, member_client):
    upload = SimpleUploadedFile("people.csv", b"name,city\nAna,Salem\n")
    res = admin_web.post(reverse("contact-import"), {"file": upload, "pool": "contact"})
    assert res.status_code == 400 and "No phone column" in res.content.decode()
    assert member_client("viewer").get(reverse("contact-import")).status_code == 403
    assert not ContactImport.objects.exists()


def test_contacts_page_paste_imports_at_once(account, admin_web):
    res = admin_web.post(
        reverse("contact-import-paste"),
        {"paste-numbers": "5035550160\n5035550161\nxyz", "paste-pool": "contact",
         "paste-tribe_name": "Door list"},
    )  # fmt: skip
    imp = ContactImport.objects.get()
    assert res.status_code == 302 and imp.status == "done"
    assert (imp.created, imp.invalid) == (2, 1)
    assert TribeMember.objects.filter(tribe__name="Door list").count() == 2
    page = admin_web.get(res["Location"]).content.decode()
    assert 'data-import="invalid">1<' in page and "Download error report" in page
