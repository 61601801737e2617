"""Tribe pages (list, detail with counts, create/edit with the filter builder, delete),
the builder's preview and "save as Tribe", and the Recipients tab's Tribe picker and
filter builder partials (search filtered by the campaign's mode, counts on select, use
as audience)."""

import json

import pytest
from django.urls import reverse

from contacts.models import Tribe
from contacts.tribes import tribe_create
from tests.factories import make_account, make_campaign, make_contact
from tests.ui.conftest import login_client

pytestmark = pytest.mark.django_db

PORTLAND = {"all": [{"field": "city", "op": "eq", "value": "Portland"}]}


@pytest.fixture
def portland(account):
    make_contact(account, "+15035550401", city="Portland", first_name="Ana")
    make_contact(account, "+15035550402", city="Portland", first_name="Ben", sms_status="none")
    make_contact(account, "+15035550403", city="Salem", first_name="Cy")
    return tribe_create(
        account=account, actor=None, name="Portland", mode="relationship", filter=PORTLAND
    )


def test_list_search_and_detail_counts(admin_web, account, portland):
    tribe_create(account=account, actor=None, name="Volunteers", filter=PORTLAND)
    page = admin_web.get(reverse("tribe-list"))
    assert page.status_code == 200
    assert b"Portland" in page.content and b"Volunteers" in page.content
    found = admin_web.get(reverse("tribe-list"), {"q": "volun"}, HTTP_HX_REQUEST="true")
    assert b"Volunteers" in found.content and b">Portland<" not in found.content
    detail = admin_web.get(reverse("tribe-detail", args=[portland.pk])).content.decode()
    assert 'data-count="members">2<' in detail
    assert 'data-count="eligible">1<' in detail
    assert "Ana" in detail and "Cy" not in detail


def test_create_edit_and_delete_through_the_pages(admin_web, account, portland):
    page = admin_web.get(reverse("tribe-new"))
    assert page.status_code == 200 and b"data-filter-builder" in page.content
    salem = {"all": [{"field": "city", "op": "eq", "value": "Salem"}]}
    res = admin_web.post(
        reverse("tribe-new"), {"name": "Salem", "mode": "cross", "filter": json.dumps(salem)}
    )
    tribe = Tribe.objects.get(account=account, name="Salem")
    assert res.status_code == 302 and res.url == reverse("tribe-detail", args=[tribe.pk])
    assert tribe.filter == salem
    bad = {"all": [{"field": "city", "op": "near", "value": "x"}]}
    res = admin_web.post(
        reverse("tribe-edit", args=[tribe.pk]),
        {"name": "Salem", "mode": "cross", "filter": json.dumps(bad)},
    )
    assert res.status_code == 400 and b"filter.all[0].op" in res.content
    tribe.refresh_from_db()
    assert tribe.filter == salem
    res = admin_web.post(reverse("tribe-delete", args=[tribe.pk]))
    assert res.status_code == 302 and not Tribe.objects.filter(pk=tribe.pk).exists()


def test_viewers_see_tribes_but_may_not_change_them(member_client, portland):
    viewer = member_client("viewer")
    assert viewer.get(reverse("tribe-detail", args=[portland.pk])).status_code == 200
    assert viewer.get(reverse("tribe-new")).status_code == 403
    assert viewer.post(reverse("tribe-delete", args=[portland.pk])).status_code == 403
    saved = viewer.post(
        reverse("tribe-save-from-builder"), {"name": "X", "filter": json.dumps(PORTLAND)}
    )
    assert b"may not" in saved.content and not Tribe.objects.filter(name="X").exists()


def test_another_accounts_tribe_pages_are_404(admin_web):
    theirs = tribe_create(account=make_account("theirs"), actor=None, name="T", filter=PORTLAND)
    assert admin_web.get(reverse("tribe-detail", args=[theirs.pk])).status_code == 404
    assert admin_web.get(reverse("tribe-edit", args=[theirs.pk])).status_code == 404
    assert admin_web.post(reverse("tribe-delete", args=[theirs.pk])).status_code == 404


def test_builder_preview_and_save_as_tribe(admin_web, account, portland):
    preview = admin_web.post(
        reverse("tribe-filter-preview"), {"filter": json.dumps(PORTLAND), "mode": "relationship"}
    ).content.decode()
    assert 'data-count="members">2<' in preview and 'data-count="eligible">1<' in preview
    wrong = admin_web.post(
        reverse("tribe-filter-preview"),
        {"filter": json.dumps({"any": [{"field": "nope", "op": "eq", "value": 1}]})},
    )
    assert b"filter.any[0].field" in wrong.content
    saved = admin_web.post(
        reverse("tribe-save-from-builder"),
        {"name": "Portland again", "mode": "relationship", "filter": json.dumps(PORTLAND)},
    )
    assert b"data-saved" in saved.content
    assert Tribe.objects.get(account=account, name="Portland again").filter == PORTLAND


def test_recipients_tab_picker_filters_by_mode_and_shows_counts(admin_web, account, portland):
    tribe_create(account=account, actor=None, name="Voters", mode="campaign", filter=PORTLAND)
    tribe_create(account=account, actor=None, name="Everyone", mode="cross", filter=PORTLAND)
    campaign = make_campaign(account, "Canvass")  # relationship mode
    tab = admin_web.get(reverse("campaign-tab", args=[campaign.pk, "recipients"]))
    assert tab.status_code == 200
    html = tab.content.decode()
    assert "tribe-picker" in html and "campaign-filter-builder" in html

    results = admin_web.get(reverse("campaign-tribe-picker", args=[campaign.pk])).content.decode()
    assert "Portland" in results and "Everyone" in results and "Voters" not in results
    searched = admin_web.get(reverse("campaign-tribe-picker", args=[campaign.pk]), {"q": "every"})
    assert b"Everyone" in searched.content and b"Portland" not in searched.content

    picked = admin_web.get(
        reverse("campaign-tribe-pick", args=[campaign.pk, portland.pk])
    ).content.decode()
    assert 'data-count="members">2<' in picked and 'data-count="eligible">1<' in picked

    res = admin_web.post(
        reverse("campaign-audience-tribe", args=[campaign.pk]), {"tribe_id": portland.pk}
    )
    assert res.status_code == 302
    campaign.refresh_from_db()
    assert campaign.audience == {"tribe_id": portland.pk}


def test_recipients_tab_refuses_a_tribe_of_the_other_mode(admin_web, account):
    voters = tribe_create(
        account=account, actor=None, name="Voters", mode="campaign", filter=PORTLAND
    )
    campaign = make_campaign(account, "Canvass")
    res = admin_web.post(
        reverse("campaign-audience-tribe", args=[campaign.pk]), {"tribe_id": voters.pk}, follow=True
    )
    assert "cannot be the audience" in res.content.decode()
    campaign.refresh_from_db()
    assert campaign.audience in ({}, None)


def test_recipients_tab_builder_sets_a_filter_audience(admin_web, account, portland):
    campaign = make_campaign(account, "Canvass")
    body = admin_web.get(reverse("campaign-filter-builder", args=[campaign.pk])).content.decode()
    assert "data-filter-builder" in body and "Save as Tribe" in body
    res = admin_web.post(
        reverse("campaign-audience-filter", args=[campaign.pk]), {"filter": json.dumps(PORTLAND)}
    )
    assert res.status_code == 302
    campaign.refresh_from_db()
    assert campaign.audience == {"filter": PORTLAND}
    # the builder starts from the campaign's filter
    again = admin_web.get(reverse("campaign-filter-builder", args=[campaign.pk])).content.decode()
    assert "Portland" in again
    # a bad filter changes nothing and says where
    bad = {"all": [{"field": "city", "op": "eq"}]}
    res = admin_web.post(
        reverse("campaign-audience-filter", args=[campaign.pk]),
        {"filter": json.dumps(bad)},
        follow=True,
    )
    assert "filter.all[0].value" in res.content.decode()
    campaign.refresh_from_db()
    assert campaign.audience == {"filter": PORTLAND}


def test_other_accounts_campaign_partials_are_404(account):
    other = make_account("else")
    from tests.factories import make_member

    campaign = make_campaign(other, "Theirs")
    client = login_client(make_member(account, "admin"))
    assert client.get(reverse("campaign-tribe-picker", args=[campaign.pk])).status_code == 404
    assert client.get(reverse("campaign-filter-builder", args=[campaign.pk])).status_code == 404
