"""The Compose tab: body with a live counter (server-computed by texting.compose, the
same counting as the API and the Tech Check), merge-field buttons, the stop language
(shown appended, never removable) and a phone-style preview for a sample recipient."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import Capability, can
from accounts.views import member_page
from compliance import eligibility

from . import services
from .audience import campaign_exclusions, resolve_audience
from .campaign_serializers import CampaignInputSerializer
from .compose import BLANK_CONTACT, compose_preview, stop_language
from .merge import FIELD_NAMES
from .models import Campaign, CampaignStatus
from .selectors import access_campaign
from .services import CampaignError

SAMPLE_CHOICES = 20
INSERTABLE = [name for name in FIELD_NAMES if name != "custom.<key>"]


def _samples(campaign: Campaign) -> list:
    try:
        audience = resolve_audience(campaign=campaign, create=False)
    except CampaignError:
        return []
    return list(
        eligibility.eligible(audience.contacts, campaign_exclusions(campaign=campaign)).order_by(
            "id"
        )[:SAMPLE_CHOICES]
    )


def _counter_context(campaign: Campaign, body: str, stop: str, sample_id: str) -> dict[str, Any]:
    samples = _samples(campaign)
    sample = next((c for c in samples if str(c.pk) == sample_id), samples[0] if samples else None)
    # Without a sample recipient every merge field shows its fallback.
    preview = compose_preview(body=body, contact=sample or BLANK_CONTACT, stop_language=stop)
    typed = compose_preview(body=body, stop_language=stop)
    return {
        "campaign": campaign,
        "preview": preview,
        "counted": typed.size,
        "sample": sample,
        "samples": samples,
        "errors": preview.errors,
    }


def compose_context(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    stop = stop_language(campaign)
    return {
        "can_edit": campaign.status == CampaignStatus.DRAFT
        and can(request.membership.role, Capability.COMPOSE),
        "merge_fields": INSERTABLE,
        "stop_language": stop,
        "account_stop_language": campaign.account.stop_language,
        **_counter_context(campaign, campaign.body, stop, request.GET.get("sample", "")),
    }


@require_POST
@member_page(Capability.COMPOSE, nav="campaigns")
def compose_counter(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The counter and preview bubble for the text being typed (htmx, debounced)."""
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    stop = (request.POST.get("stop_language") or "").strip() or campaign.account.stop_language
    context = _counter_context(
        campaign, request.POST.get("body", ""), stop, request.POST.get("sample", "")
    )
    return render(request, "campaigns/tabs/_compose_counter.html", context)


@require_POST
@member_page(Capability.COMPOSE, nav="campaigns")
def compose_save(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        raise PermissionDenied("Only a draft can be edited.")
    data = CampaignInputSerializer(
        data={
            "body": request.POST.get("body", ""),
            "stop_language": request.POST.get("stop_language", "").strip(),
        },
        partial=True,
        context={"account": request.account, "campaign": campaign},
    )
    if not data.is_valid():
        for field, errors in data.errors.items():
            for error in errors:
                messages.error(request, f"{field}: {error}")
        context = {"campaign": campaign, "tab": "compose"}
        from .views import CAMPAIGN_TABS  # texting.views includes this module's context

        context["tabs"] = CAMPAIGN_TABS
        stop = data.initial_data["stop_language"] or campaign.account.stop_language
        context |= compose_context(request, campaign)
        context |= _counter_context(campaign, data.initial_data["body"], stop, "")
        context["draft_body"] = data.initial_data["body"]
        context["draft_stop"] = data.initial_data["stop_language"]
        return render(request, "campaigns/frame.html", context, status=400)
    services.campaign_update(campaign=campaign, data=data.validated_data)
    messages.success(request, "Message saved.")
    return redirect("campaign-tab", campaign_id=campaign.pk, tab="compose")
