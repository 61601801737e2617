"""The campaign Status tab: a sensible state for every campaign status, role-gated
Pause / Resume / Cancel (409s and 403s become messages), the recipients table with
filter, search, keyset paging and CSV export, all scoped to the page's account."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.texting.test_status_live import add_messages, campaign_in, recipients
from texting.models import Campaign, CampaignStatus, Message, MessageStatus

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def status_url(campaign, **params) -> str:
    url = reverse("campaign-tab", args=[campaign.pk, "status"])
    return f"{url}?{'&'.join(f'{k}={v}' for k, v in params.items())}" if params else url


def control_url(campaign, action: str) -> str:
    return reverse("campaign-status-control", args=[campaign.pk, action])


def buttons(html: str) -> set[str]:
    return {a for a in ("pause", "resume", "cancel") if f'data-control="{a}"' in html}


@pytest.mark.parametrize(
    ("status", "words", "admin_buttons", "live"),
    [
        ("draft", "Not committed yet", set(), False),
        ("scheduled", "Nothing has gone out yet", {"pause", "cancel"}, True),
        ("sending", "The numbers below move", {"pause", "cancel"}, True),
        ("paused", "Queued messages are held", {"resume", "cancel"}, True),
        ("completed", "Every message has left the queue", set(), True),
        ("canceled", "were not sent", set(), True),
        ("failed", "The send failed</strong>: carrier rejected the campaign", set(), True),
        ("archived", "A read-only record", set(), True),
    ],
)
def test_every_campaign_status_has_its_own_state(
    account, admin_web, status, words, admin_buttons, live
):
    campaign = campaign_in(account, status=status, status_reason="carrier rejected the campaign")
    if status != "draft":
        add_messages(campaign, recipients(account, 3, first_name="Ana"), MessageStatus.DELIVERED)
    html = admin_web.get(status_url(campaign)).content.decode()
    assert words in html
    assert buttons(html) == admin_buttons
    assert ("data-status-live" in html) == live
    assert ("js/status.js" in html) == live
    if status == "draft":
        assert reverse("campaign-tab", args=[campaign.pk, "tech-check"]) in html
    else:
        assert 'data-field="delivered">3<' in html
        assert "Delivery health" in html and "Ana" in html


@pytest.mark.parametrize(
    ("role", "sending", "paused"),
    [
        ("admin", {"pause", "cancel"}, {"resume", "cancel"}),
        ("manager", {"pause", "cancel"}, {"resume", "cancel"}),
        ("field", {"pause"}, set()),  # anyone who can see a live campaign may pause it
        ("viewer", {"pause"}, set()),
    ],
)
def test_buttons_follow_the_role_matrix(account, member_client, role, sending, paused):
    client = member_client(role)
    assert buttons(client.get(status_url(campaign_in(account))).content.decode()) == sending
    held = client.get(status_url(campaign_in(account, status="paused"))).content.decode()
    assert buttons(held) == paused
    if role in ("field", "viewer"):
        assert "A manager or admin can resume or cancel it." in held


def test_pause_and_resume_over_htmx_return_the_new_state(account, admin_web):
    campaign = campaign_in(account)
    add_messages(campaign, recipients(account, 2), MessageStatus.QUEUED)

    paused = admin_web.post(control_url(campaign, "pause"), **HTMX)
    assert paused.status_code == 200
    html = paused.content.decode()
    assert 'data-state="paused"' in html and "Paused." in html
    assert buttons(html) == {"resume", "cancel"}
    assert Campaign.objects.get(pk=campaign.pk).status == "paused"

    resumed = admin_web.post(control_url(campaign, "resume"), **HTMX)
    assert 'data-state="sending"' in resumed.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == "sending"


def test_cancel_cancels_what_has_not_left(account, admin_web):
    campaign = campaign_in(account)
    add_messages(campaign, recipients(account, 2), MessageStatus.QUEUED)
    add_messages(campaign, recipients(account, 1), MessageStatus.DELIVERED)
    html = admin_web.post(control_url(campaign, "cancel"), **HTMX).content.decode()
    assert 'data-state="canceled"' in html
    assert sorted(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == [
        "canceled",
        "canceled",
        "delivered",
    ]


def test_a_wrong_state_is_a_409_with_words_not_a_crash(account, admin_web):
    done = campaign_in(account, status=CampaignStatus.COMPLETED)
    response = admin_web.post(control_url(done, "pause"), **HTMX)
    assert response.status_code == 409
    html = response.content.decode()
    assert "Could not pause: the campaign is completed now." in html
    assert 'data-state="completed"' in html and buttons(html) == set()

    # Without htmx: the same words as a message on the tab.
    plain = admin_web.post(control_url(done, "resume"), follow=True)
    assert plain.redirect_chain[-1][0] == status_url(done)
    assert "Could not resume: the campaign is completed now." in plain.content.decode()


def test_a_role_without_the_capability_gets_a_403_with_words(account, member_client):
    viewer = member_client("viewer")
    campaign = campaign_in(account, status=CampaignStatus.PAUSED)
    response = viewer.post(control_url(campaign, "resume"), **HTMX)
    assert response.status_code == 403
    assert "Your role (Viewer) may not resume this campaign." in response.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == "paused"

    sending = campaign_in(account)
    assert viewer.post(control_url(sending, "pause"), **HTMX).status_code == 200
    assert Campaign.objects.get(pk=sending.pk).status == "paused"


def test_plain_form_posts_redirect_back_with_a_message(account, admin_web):
    campaign = campaign_in(account)
    response = admin_web.post(control_url(campaign, "pause"), follow=True)
    assert response.redirect_chain == [(status_url(campaign), 302)]
    assert "Paused. Messages already with the carrier still finish" in response.content.decode()
    assert admin_web.get(control_url(campaign, "pause")).status_code == 405
    assert admin_web.post(control_url(campaign, "explode")).status_code == 404


def test_another_accounts_campaign_is_a_404_everywhere(account, other_account, admin_web):
    theirs = campaign_in(other_account)
    add_messages(theirs, recipients(other_account, 1), MessageStatus.QUEUED)
    for url in (
        status_url(theirs),
        reverse("campaign-status-state", args=[theirs.pk]),
        reverse("campaign-status-health", args=[theirs.pk]),
        reverse("campaign-status-export", args=[theirs.pk]),
    ):
        assert admin_web.get(url).status_code == 404, url
    assert admin_web.post(control_url(theirs, "pause")).status_code == 404
    assert Campaign.objects.get(pk=theirs.pk).status == "sending"


def test_state_and_health_partials(account, admin_web):
    campaign = campaign_in(account, status=CampaignStatus.PAUSED)
    state = admin_web.get(reverse("campaign-status-state", args=[campaign.pk]), **HTMX)
    assert 'data-state="paused"' in state.content.decode()
    assert "<html" not in state.content.decode()
    health = admin_web.get(reverse("campaign-status-health", args=[campaign.pk]), **HTMX)
    assert 'data-health="quiet"' in health.content.decode()
    assert "No delivery receipts yet." in health.content.decode()


# --- The recipients table ---------------------------------------------------------


def table(client, campaign, **params) -> str:
    return client.get(
        status_url(campaign, **params), HTTP_HX_TARGET="status-messages", **HTMX
    ).content.decode()


def test_the_table_filters_searches_and_pages_as_a_partial(account, other_account, admin_web):
    campaign = campaign_in(account)
    add_messages(campaign, recipients(account, 60, first_name="Pat"), MessageStatus.QUEUED)
    (ana,) = recipients(account, 1, first_name="Ana", last_name="Alvarez")
    add_messages(
        campaign, [ana], MessageStatus.FAILED, error_code="30007", error_reason="Carrier filtered"
    )
    recipients(other_account, 1, first_name="Ana")  # another tenant's Ana

    first = table(admin_web, campaign)
    assert "<html" not in first and "61 recipients" in first
    assert first.count("<tr>") == 51  # header + 50
    assert "Next ›" in first and "‹ Prev" not in first
    next_after = Message.objects.filter(campaign=campaign).order_by("id")[49].id
    second = table(admin_web, campaign, after=next_after)
    assert second.count("<tr>") == 12 and "‹ Prev" in second and "Next ›" not in second

    failed = table(admin_web, campaign, status="failed")
    assert "1 failed recipient" in failed and "Ana Alvarez" in failed
    assert "30007" in failed and "Carrier filtered" in failed
    found = table(admin_web, campaign, q="alvarez")
    assert "Ana Alvarez" in found and found.count("<tr>") == 2
    assert "No recipients match “zed”" in table(admin_web, campaign, q="zed")
    assert "status=failed" in failed and "export.csv?status=failed" in failed

    # The full page (no htmx) keeps the filter in the form for a reload or a shared link.
    page = admin_web.get(status_url(campaign, status="failed")).content.decode()
    assert '<option value="failed" selected>' in page


def test_deep_pages_use_keyset_queries_not_offset_or_count(account, admin_web):
    campaign = campaign_in(account)
    add_messages(campaign, recipients(account, 120), MessageStatus.DELIVERED)
    deep = Message.objects.filter(campaign=campaign).order_by("id")[99].id
    with CaptureQueriesContext(connection) as queries:
        html = table(admin_web, campaign, after=deep)
    assert html.count("<tr>") == 21
    sql = " ".join(q["sql"] for q in queries).upper()
    assert " OFFSET " not in sql
    assert 'COUNT(*) AS "__COUNT"' not in sql  # totals come from the per-status counts
    assert len(queries) <= 12


def test_csv_export_follows_the_filters(account, admin_web):
    campaign = campaign_in(account)
    (ana,) = recipients(account, 1, first_name="Ana")
    add_messages(campaign, [ana], MessageStatus.DELIVERED)
    add_messages(campaign, recipients(account, 2, first_name="Ben"), MessageStatus.QUEUED)
    url = reverse("campaign-status-export", args=[campaign.pk])

    everything = admin_web.get(url)
    assert everything["Content-Type"] == "text/csv"
    assert "attachment;" in everything["Content-Disposition"]
    lines = b"".join(everything.streaming_content).decode().splitlines()
    assert lines[0].split(",")[-1] == "name" and len(lines) == 4

    delivered = b"".join(admin_web.get(url, {"status": "delivered"}).streaming_content).decode()
    assert delivered.splitlines()[1].endswith(",Ana") and len(delivered.splitlines()) == 2
    only_ben = b"".join(admin_web.get(url, {"q": "ben"}).streaming_content).decode()
    assert len(only_ben.splitlines()) == 3
