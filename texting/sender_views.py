"""The Compose tab's sender picker (`campaigns/tabs/_compose_senders.html`): the
account's numbers with their kind, registration standing, state, MPS and health (the
last 24 hours' delivery and opt-out rates: texting.sender_health); the
draft's `sender_ids` and `local_presence` saved; and the estimated send time for the
audience over the selected senders (the Tech Check's own figures, loaded after the
tab, since it classifies the audience)."""

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import Capability, can
from accounts.views import member_page
from phone_numbers.models import PhoneNumber
from phone_numbers.selectors import sender_choices

from . import services
from .campaign_serializers import CampaignInputSerializer
from .models import Campaign, CampaignStatus
from .selectors import access_campaign
from .sender_health import WINDOW_HOURS, SenderHealth, sender_health
from .techcheck import campaign_tech_check, send_estimate_text, sender_problem


@dataclass(frozen=True)
class SenderChoice:
    number: PhoneNumber
    selected: bool
    problem: str  # why the Tech Check would block it; "" when it may send
    health: SenderHealth | None  # the last 24 h (None: could not be read)

    @property
    def registered(self) -> bool:
        return not self.problem


def senders_context(*, campaign: Campaign, role: str) -> dict[str, Any]:
    """The picker's rows (active numbers first) and whether this member may change them."""
    selected = set(campaign.sender_ids or [])
    numbers = list(sender_choices(account=campaign.account))
    health = sender_health(n.e164 for n in numbers)
    choices = [
        SenderChoice(number, number.pk in selected, sender_problem(number), health[number.e164])
        for number in numbers
    ]
    return {
        "campaign": campaign,
        "choices": choices,
        "selected_count": len([c for c in choices if c.selected]),
        "can_edit": campaign.status == CampaignStatus.DRAFT and can(role, Capability.COMPOSE),
        "health_hours": WINDOW_HOURS,
    }


@require_POST
@member_page(Capability.COMPOSE, nav="campaigns")
def compose_senders(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Save the draft's senders (this account's numbers only) and local presence."""
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        raise PermissionDenied("Only a draft can be edited.")
    data = CampaignInputSerializer(
        data={
            "sender_ids": request.POST.getlist("sender_ids"),
            "local_presence": request.POST.get("local_presence") == "on",
        },
        partial=True,
        context={"account": request.account, "campaign": campaign},
    )
    if not data.is_valid():
        for field, errors in data.errors.items():
            # A list field's errors come by position ({0: ["A valid integer…"]}).
            found = errors if isinstance(errors, list) else sum(errors.values(), [])
            for error in found:
                messages.error(request, f"{field}: {error}")
    else:
        services.campaign_update(campaign=campaign, data=data.validated_data)
        count = len(data.validated_data["sender_ids"])
        messages.success(request, f"Senders saved ({count} selected).")
    return redirect("campaign-tab", campaign_id=campaign.pk, tab="compose")


@require_GET
@member_page(nav="campaigns")
def compose_senders_estimate(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The estimate under the picker: eligible recipients, and how long the selected
    senders that may send take for them at their MPS (the campaign's throttle applied),
    from the Tech Check (`texting.techcheck.send_duration`)."""
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    check = campaign_tech_check(campaign=campaign, preview=False)
    usable = [s.number for s in check.senders if s.ok]
    context = {
        "campaign": campaign,
        "eligible": check.audit.eligible if check.audit else None,
        "text": send_estimate_text(
            eligible=check.audit.eligible if check.audit else 0,
            seconds=check.estimated_duration_seconds,
            numbers=usable,
        ),
        "blocked": len(check.senders) - len(usable),
        "rate": check.messages_per_second,
        "segments": check.segments,
    }
    return render(request, "campaigns/tabs/_compose_senders_estimate.html", context)
