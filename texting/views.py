"""The account dashboard and the campaign pages (list, new, the six-tab frame, and the
Status tab's partials and controls).

The dashboard lives here because it reads across contacts, numbers and campaigns, and
texting is the lowest app that may import all three.
"""

import datetime
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import Capability, can
from accounts.views import member_page
from contacts.models import SmsStatus
from contacts.selectors import contact_list
from phone_numbers.models import NumberKind, NumberStatus
from phone_numbers.selectors import number_list

from . import services
from .audience import campaign_audit
from .commit import campaign_commit
from .compose_views import compose_context
from .exports import message_rows_csv
from .forms import CampaignForm, CommitForm
from .models import Campaign, CampaignStatus, MessageStatus
from .recipients_views import recipients_context
from .selectors import (
    HEALTH_WINDOW_MINUTES,
    access_campaign,
    campaign_charged,
    campaign_counts,
    campaign_health,
    campaign_list,
    campaign_messages,
    campaign_status_snapshot,
    message_page,
)
from .services import campaign_create
from .techcheck import REASON_LABELS, PreflightError, campaign_tech_check

RECENT_SENDS = 5  # the Dashboard's latest committed campaigns, with their figures

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
        # Recent replies: the conversations panel (conversations_inbox.recent_replies_panel
        # in the template: conversations sits above texting), scoped and live.
    }
    if can(role, Capability.VIEW_NUMBERS):
        numbers = number_list(account=account)
        context |= {
            "numbers_total": numbers.count(),
            "numbers_by_kind": _counts(numbers, "kind", NumberKind.choices),
            "numbers_by_status": _counts(numbers, "status", NumberStatus.choices),
        }
    context["campaigns_total"] = sum(n for _, _, n in context["campaigns_by_status"])
    if can(role, Capability.VIEW_STATS):
        recent = campaign_list(account=account).exclude(status=CampaignStatus.DRAFT)
        context["recent_sends"] = [
            (c, campaign_status_snapshot(campaign=c)) for c in recent[:RECENT_SENDS]
        ]
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
    context: dict[str, Any] = {"campaign": campaign, "tab": tab, "tabs": CAMPAIGN_TABS}
    if tab == "status":
        if not can(request.membership.role, Capability.VIEW_STATS):
            raise PermissionDenied("Your role may not see campaign statistics.")
        htmx = request.htmx
        if htmx and htmx.target == "status-messages" and not htmx.history_restore_request:
            # Filter, search and page flips swap only the table (same partial as below).
            response = render(
                request, "campaigns/tabs/_messages.html", _messages_context(request, campaign)
            )
            patch_vary_headers(response, ["HX-Request", "HX-Target"])
            return response
        context |= _status_context(request, campaign)
    elif tab == "tech-check":
        context |= _techcheck_context(request, campaign)
    elif tab == "dashboard" and campaign.status == CampaignStatus.DRAFT:
        context |= _audit_context(campaign)
    elif tab == "dashboard" and can(request.membership.role, Capability.VIEW_STATS):
        context["figures"] = campaign_status_snapshot(campaign=campaign) | {
            "charged": campaign_charged(campaign=campaign)
        }
    elif tab == "compose":
        context |= compose_context(request, campaign)
    elif tab == "recipients":
        if campaign.status == CampaignStatus.DRAFT:
            context |= _audit_context(campaign)
        context |= recipients_context(request, campaign)
    response = render(request, "campaigns/frame.html", context)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


# --- The Status tab -----------------------------------------------------------------

STATUS_PAGE_SIZE = 50
# Statuses whose counters still move on their own: the page listens for pushes.
LIVE_STATUSES = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED})
TABLE_STATUSES = [
    (s.value, s.label)
    for s in (
        MessageStatus.QUEUED,
        MessageStatus.SCHEDULED,
        MessageStatus.SENDING,
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.FAILED,
        MessageStatus.CANCELED,
    )
]


@dataclass(frozen=True)
class Control:
    """A Status-tab button: who may press it (accounts.permissions), in which campaign
    statuses it applies (texting.models.CAMPAIGN_TRANSITIONS), and what it does."""

    action: str
    label: str
    capability: Capability
    when: frozenset[str]
    run: Callable[..., Campaign]
    done: str
    style: str = "btn"
    confirm: str = ""


CONTROLS = {
    c.action: c
    for c in (
        Control(
            "pause",
            "Pause",
            Capability.PAUSE_CAMPAIGN,  # anyone who can see a live campaign may pause it
            frozenset({CampaignStatus.SENDING, CampaignStatus.SCHEDULED}),
            lambda campaign: services.campaign_pause(campaign=campaign),
            "Paused. Messages already with the carrier still finish; the rest wait here.",
        ),
        Control(
            "resume",
            "Resume",
            Capability.SEND,
            frozenset({CampaignStatus.PAUSED}),
            lambda campaign: services.campaign_resume(campaign=campaign),
            "Resumed.",
            style="btn btn-primary",
        ),
        Control(
            "cancel",
            "Cancel send",
            Capability.SEND,
            frozenset({CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED}),
            lambda campaign: services.campaign_cancel(campaign=campaign),
            "Canceled. Messages not yet handed to the carrier will not be sent.",
            style="btn btn-danger-outline",
            confirm="Cancel this send? Messages not yet sent will never go out. This cannot be undone.",
        ),
    )
}


def _controls(role: str, status: str) -> list[Control]:
    """The buttons this role may use that apply to the campaign's current status."""
    return [c for c in CONTROLS.values() if status in c.when and can(role, c.capability)]


def _state_context(
    request: HttpRequest, campaign: Campaign, *, notice: str = "", error: str = ""
) -> dict[str, Any]:
    return {
        "campaign": campaign,
        "controls": _controls(request.membership.role, campaign.status),
        "notice": notice,
        "error": error,
        "live": campaign.status in LIVE_STATUSES,
    }


def _int_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


def _messages_context(request: HttpRequest, campaign: Campaign, counts=None) -> dict[str, Any]:
    wanted = request.GET.get("status", "")
    status = wanted if wanted in {value for value, _ in TABLE_STATUSES} else ""
    q = request.GET.get("q", "").strip()[:100]
    rows = campaign_messages(campaign=campaign, status=status, q=q)
    page = message_page(
        rows=rows,
        after=_int_param(request, "after"),
        before=_int_param(request, "before"),
        size=STATUS_PAGE_SIZE,
    )
    base = reverse("campaign-tab", args=[campaign.pk, "status"])
    filters = {k: v for k, v in (("status", status), ("q", q)) if v}

    def link(**extra: int) -> str:
        return f"{base}?{urlencode(filters | extra)}" if filters or extra else base

    total = None
    if not q:  # exact totals come from the per-status counts, never from a COUNT(*)
        counts = counts or campaign_counts(campaign=campaign)
        total = counts.count(status) if status else sum(counts.by_status.values())
    export = reverse("campaign-status-export", args=[campaign.pk])
    return {
        "campaign": campaign,
        "page": page,
        "rows": page.with_contacts(),
        "status_filter": status,
        "status_label": dict(TABLE_STATUSES).get(status, ""),
        "q": q,
        "total": total,
        "first_url": link() if page.prev_before else "",
        "prev_url": link(before=page.prev_before) if page.prev_before else "",
        "next_url": link(after=page.next_after) if page.next_after else "",
        "export_url": f"{export}?{urlencode(filters)}" if filters else export,
    }


def _status_context(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    if campaign.status == CampaignStatus.DRAFT:
        return _state_context(request, campaign)
    counts = campaign_counts(campaign=campaign)
    snapshot = campaign_status_snapshot(campaign=campaign, counts=counts)
    return {
        **_state_context(request, campaign),
        "snapshot": snapshot,
        "eta_at": datetime.datetime.fromisoformat(snapshot["eta"]) if snapshot["eta"] else None,
        "health": campaign_health(campaign=campaign, counts=counts),
        "health_window": HEALTH_WINDOW_MINUTES,
        "table_statuses": TABLE_STATUSES,
        **_messages_context(request, campaign, counts),
    }


@require_GET
@member_page(Capability.VIEW_STATS, nav="campaigns")
def campaign_status_state(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The banner and buttons for the campaign's current status (the page swaps it in
    when a pushed snapshot shows a new status)."""
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    return render(request, "campaigns/tabs/_state.html", _state_context(request, campaign))


@require_GET
@member_page(Capability.VIEW_STATS, nav="campaigns")
def campaign_status_health(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    context = {
        "campaign": campaign,
        "health": campaign_health(campaign=campaign),
        "health_window": HEALTH_WINDOW_MINUTES,
    }
    return render(request, "campaigns/tabs/_health.html", context)


@require_POST
@member_page(nav="campaigns")
def campaign_status_control(request: HttpRequest, campaign_id: int, action: str) -> HttpResponse:
    """Pause / Resume / Cancel from the Status tab. htmx gets the state partial back
    (with a 403 or 409 and the reason in words when refused); a plain form post gets a
    message and a redirect to the tab."""
    control = CONTROLS.get(action)
    if control is None:
        raise Http404("No such action.")
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    notice, error, code = "", "", 200
    if not can(request.membership.role, control.capability):
        error = (
            f"Your role ({request.membership.get_role_display()}) may not "
            f"{control.label.lower()} this campaign."
        )
        code = 403
    else:
        try:
            campaign = control.run(campaign)
            notice = control.done
        except services.TransitionError:
            campaign.refresh_from_db()
            error = (
                f"Could not {control.label.lower()}: the campaign is "
                f"{campaign.get_status_display().lower()} now."
            )
            code = 409
    if request.htmx:
        context = _state_context(request, campaign, notice=notice, error=error)
        return render(request, "campaigns/tabs/_state.html", context, status=code)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("campaign-tab", campaign_id=campaign.pk, tab="status")


@require_GET
@member_page(Capability.VIEW_STATS, nav="campaigns")
def campaign_status_export(request: HttpRequest, campaign_id: int) -> StreamingHttpResponse:
    """The per-recipient rows as CSV, with the table's current filter and search."""
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    wanted = request.GET.get("status", "")
    status = wanted if wanted in {value for value, _ in TABLE_STATUSES} else ""
    rows = campaign_messages(campaign=campaign, status=status, q=request.GET.get("q", ""))
    response = StreamingHttpResponse(
        message_rows_csv(account_id=campaign.account_id, rows=rows), content_type="text/csv"
    )
    suffix = f"-{status}" if status else ""
    response["Content-Disposition"] = (
        f'attachment; filename="campaign-{campaign.pk}{suffix}-recipients.csv"'
    )
    return response


# --- The Tech Check tab and the commit ------------------------------------------------


def _audit_context(campaign: Campaign) -> dict[str, Any]:
    """The eligibility audit as a "Recipients" summary (total, eligible, excluded by
    reason), or why there is none yet."""
    try:
        audit = campaign_audit(campaign=campaign)
    except services.CampaignError as exc:
        return {"audit": None, "audit_error": str(exc)}
    return _audit_panel(audit)


def _audit_panel(audit) -> dict[str, Any]:
    if audit is None:
        return {"audit": None}
    rows = sorted(audit.excluded.items(), key=lambda item: -item[1])
    return {
        "audit": audit,
        "audit_left_out": audit.total - audit.eligible,
        "audit_reasons": [(reason, REASON_LABELS.get(reason, reason), n) for reason, n in rows],
    }


def _techcheck_context(
    request: HttpRequest,
    campaign: Campaign,
    *,
    form: CommitForm | None = None,
    refused: list | None = None,
    error: str = "",
) -> dict[str, Any]:
    role = request.membership.role
    if not can(role, Capability.VIEW_STATS):
        raise PermissionDenied("Your role may not see campaign checks.")
    if campaign.status != CampaignStatus.DRAFT:
        return {"committed": True}
    check = campaign_tech_check(campaign=campaign)
    return {
        "check": check,
        **_audit_panel(check.audit),
        "audit_error": next((c.message for c in check.failed if c.name == "audience"), ""),
        "commit_form": form or CommitForm(),
        "may_send": can(role, Capability.SEND),
        "may_schedule": can(role, Capability.AUTOMATE),
        "refused": refused or [],
        "commit_error": error,
    }


@require_POST
@member_page(Capability.SEND, nav="campaigns")
def campaign_techcheck_commit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Send now / Schedule from the Tech Check tab. The commit runs the checks again;
    if one fails now (422), the tab comes back with the reasons and nothing is sent."""
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    form = CommitForm(request.POST)
    refused, error, code = [], "", 200
    if not form.is_valid():
        error, code = "Check the send options below.", 400
    elif form.cleaned_data["send_mode"] == "schedule" and not can(
        request.membership.role, Capability.AUTOMATE
    ):
        raise PermissionDenied("Your role may not schedule sends.")
    else:
        args = dict(form.cleaned_data)
        if args["send_mode"] != "schedule":
            args |= {"schedule_at": None, "recipient_local_time": False}
        try:
            result = campaign_commit(campaign=campaign, actor=request.user, **args)
        except PreflightError as exc:
            refused, code = exc.checks, 422
            error = "Not sent: a check failed when the campaign was committed."
        except services.CampaignError as exc:
            error, code = str(exc), 400
        except services.TransitionError as exc:
            campaign.refresh_from_db()
            error, code = str(exc), 409
        else:
            committed = result.campaign
            when = "scheduled" if committed.status == CampaignStatus.SCHEDULED else "sending"
            messages.success(request, f"“{committed.name}” is {when}: {result.inserted:,} queued.")
            return redirect("campaign-tab", campaign_id=campaign.pk, tab="status")
    campaign.refresh_from_db()
    context: dict[str, Any] = {"campaign": campaign, "tab": "tech-check", "tabs": CAMPAIGN_TABS}
    context |= _techcheck_context(request, campaign, form=form, refused=refused, error=error)
    return render(request, "campaigns/frame.html", context, status=code)
