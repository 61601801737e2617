"""The account dashboard and the campaign pages (list, new, the six-tab frame).

The dashboard lives here because it reads across contacts, numbers and campaigns, and
texting is the lowest app that may import all three.
"""

from collections import Counter
from typing import Any

from django.contrib import messages
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.permissions import Capability, ConversationScope, can, conversation_scope
from accounts.views import member_page
from contacts.models import SmsStatus
from contacts.selectors import contact_list, recent_replies
from contacts.views import event_summary
from phone_numbers.models import NumberKind, NumberStatus
from phone_numbers.selectors import number_list

from .forms import CampaignForm
from .models import CampaignStatus
from .selectors import access_campaign, campaign_list
from .services import campaign_create

RECENT_REPLIES = 10

# (url slug, label): the six tabs of every campaign, in order.
CAMPAIGN_TABS = [
    ("dashboard", "Dashboard"),
    ("compose", "Compose"),
    ("recipients", "Recipients"),
    ("tech-check", "Tech Check"),
    ("status", "Status"),
    ("conversations", "Conversations"),
]
_TAB_SLUGS = {slug for slug, _ in CAMPAIGN_TABS}


def _counts(rows: QuerySet, field: str, choices: Any) -> list[tuple[str, str, int]]:
    """[(value, label, count)] for every choice, zeros included, from one GROUP BY."""
    found = Counter({row[field]: row["n"] for row in rows.values(field).annotate(n=Count("id"))})
    return [(value, label, found[value]) for value, label in choices]


@member_page(nav="dashboard")
def dashboard(request: HttpRequest) -> HttpResponse:
    account, role = request.account, request.membership.role
    contacts = contact_list(account=account)
    context = {
        "contacts_total": contacts.count(),
        "contacts_by_status": _counts(contacts, "sms_status", SmsStatus.choices),
        "campaigns_by_status": _counts(
            campaign_list(account=account), "status", CampaignStatus.choices
        ),
        # Field users see only their assigned conversations; until assignment exists
        # (the inbox issue) that means no account-wide reply feed for them.
        "replies_visible": conversation_scope(role) != ConversationScope.ASSIGNED,
        "replies": [],
    }
    if can(role, Capability.VIEW_NUMBERS):
        numbers = number_list(account=account)
        context |= {
            "numbers_total": numbers.count(),
            "numbers_by_kind": _counts(numbers, "kind", NumberKind.choices),
            "numbers_by_status": _counts(numbers, "status", NumberStatus.choices),
        }
    if context["replies_visible"]:
        context["replies"] = [
            (event, event_summary(event))
            for event in recent_replies(account=account, limit=RECENT_REPLIES)
        ]
    context["campaigns_total"] = sum(n for _, _, n in context["campaigns_by_status"])
    return render(request, "dashboard.html", context)


@member_page(nav="campaigns")
def campaign_list_page(request: HttpRequest) -> HttpResponse:
    campaigns = campaign_list(account=request.account).select_related("created_by")
    return render(request, "campaigns/list.html", {"campaigns": campaigns})


@member_page(Capability.COMPOSE, nav="campaigns")
def campaign_new(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        campaign = campaign_create(account=request.account, actor=request.user, **form.cleaned_data)
        messages.success(request, f"Created the draft “{campaign.name}”.")
        return redirect("campaign-tab", campaign_id=campaign.pk, tab="dashboard")
    return render(request, "campaigns/new.html", {"form": form})


@member_page(nav="campaigns")
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    access_campaign(account=request.account, campaign_id=campaign_id)
    return redirect("campaign-tab", campaign_id=campaign_id, tab="dashboard")


@member_page(nav="campaigns")
def campaign_tab(request: HttpRequest, campaign_id: int, tab: str) -> HttpResponse:
    if tab not in _TAB_SLUGS:
        raise Http404("No such tab.")
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    return render(
        request,
        "campaigns/frame.html",
        {"campaign": campaign, "tab": tab, "tabs": CAMPAIGN_TABS},
    )
