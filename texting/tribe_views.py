"""The Recipients tab's Tribe picker and filter builder (htmx partials), and the two
posts that make a Tribe or a filter the campaign's audience.

The tab (`templates/campaigns/tabs/recipients.html`) includes
`campaigns/tabs/_tribe_picker.html` and `campaigns/tabs/_filter_builder.html`; each
loads its content from here on first render, so the tab needs no extra context. The
picker lists only Tribes the campaign's mode may use (`texting.audience.
tribe_mode_problem`: its own mode or cross-mode) and shows, on select, the member count
and the SMS-eligible count under the campaign's mode.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from accounts.permissions import Capability
from accounts.views import member_page
from compliance.tribe_views import builder_context, posted_filter
from compliance.tribes import tribe_counts
from contacts import tribes
from contacts.filters import FilterError
from contacts.models import TribeMode

from . import services
from .campaign_serializers import CampaignInputSerializer
from .models import Campaign, CampaignStatus
from .selectors import access_campaign

PICKER_SIZE = 20


def _picker_modes(campaign: Campaign) -> list[str]:
    return [campaign.mode, TribeMode.CROSS]


@member_page(nav="campaigns")
def campaign_tribe_picker(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The picker's results: the account's Tribes usable in this campaign's mode,
    searched by name (`q`)."""
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    q = request.GET.get("q", "").strip()
    found = tribes.tribe_list(account=request.account, q=q, modes=_picker_modes(campaign))
    response = render(
        request,
        "campaigns/tabs/_tribe_picker_results.html",
        {"campaign": campaign, "tribes": found[:PICKER_SIZE], "q": q},
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@member_page(nav="campaigns")
def campaign_tribe_pick(request: HttpRequest, campaign_id: int, tribe_id: int) -> HttpResponse:
    """A Tribe chosen in the picker: its counts under the campaign's mode, and the
    button that makes it the audience."""
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    tribe = tribes.access_tribe(account=request.account, tribe_id=tribe_id)
    context = {"campaign": campaign, "tribe": tribe}
    try:
        context["counts"] = tribe_counts(tribe=tribe, mode=campaign.mode)
    except FilterError as exc:
        context["error"] = str(exc)
    return render(request, "campaigns/tabs/_tribe_picker_selected.html", context)


@member_page(nav="campaigns")
def campaign_filter_builder(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The builder, starting from the campaign's filter audience if it has one."""
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    context = builder_context(
        filter=(campaign.audience or {}).get("filter"),
        mode=campaign.mode,
        campaign=campaign,
        builder_save=True,
        builder_id="campaign",
    )
    return render(request, "campaigns/tabs/_filter_builder_body.html", context)


def _error_text(errors) -> str:
    """DRF's nested errors as one line: `filter.all[0].op: ...; tribe_id: ...`."""
    if isinstance(errors, dict):
        errors = errors.get("audience", errors)
    if isinstance(errors, dict):
        return "; ".join(f"{key}: {_error_text(value)}" for key, value in errors.items())
    if isinstance(errors, list):
        return " ".join(_error_text(e) for e in errors)
    return str(errors)


def _set_audience(request: HttpRequest, campaign: Campaign, audience: dict) -> HttpResponse:
    if campaign.status != CampaignStatus.DRAFT:
        messages.error(request, "Only a draft’s audience can change.")
        return redirect("campaign-tab", campaign_id=campaign.pk, tab="recipients")
    checked = CampaignInputSerializer(
        data={"audience": audience},
        partial=True,
        context={"account": request.account, "campaign": campaign},
    )
    if checked.is_valid():
        services.campaign_update(campaign=campaign, data={"audience": audience})
        messages.success(request, "The audience is set.")
    else:
        messages.error(request, f"The audience was not changed: {_error_text(checked.errors)}")
    return redirect("campaign-tab", campaign_id=campaign.pk, tab="recipients")


@require_POST
@member_page(Capability.COMPOSE, nav="campaigns")
def campaign_audience_tribe(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    raw = request.POST.get("tribe_id", "")
    tribe_id = int(raw) if raw.isdigit() else raw
    return _set_audience(request, campaign, {"tribe_id": tribe_id})


@require_POST
@member_page(Capability.COMPOSE, nav="campaigns")
def campaign_audience_filter(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    filter, error = posted_filter(request)
    if error:
        messages.error(request, f"The audience was not changed: {error}")
        return redirect("campaign-tab", campaign_id=campaign.pk, tab="recipients")
    return _set_audience(request, campaign, {"filter": filter})
