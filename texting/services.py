from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from accounts.models import Account

from .models import CAMPAIGN_TRANSITIONS, Campaign, CampaignStatus


class CampaignError(Exception):
    """Bad input for a campaign operation (400); nothing was changed."""


class TransitionError(Exception):
    """The campaign's current status does not allow this (409); nothing was changed."""


def campaign_create(
    *,
    account: Account,
    actor: AbstractBaseUser,
    name: str,
    description: str = "",
    mode: str = "relationship",
) -> Campaign:
    return Campaign.objects.create(
        account=account, name=name.strip(), description=description, mode=mode, created_by=actor
    )


def campaign_transition(*, campaign: Campaign, to: str, reason: str = "") -> Campaign:
    """Move the campaign to `to` if CAMPAIGN_TRANSITIONS allows it from its current status.

    A conditional UPDATE (WHERE status = the status we read), so two racing requests
    cannot both apply; the loser gets TransitionError.
    """
    current = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
    if current is None or to not in CAMPAIGN_TRANSITIONS.get(current, frozenset()):
        raise TransitionError(f"A campaign that is {current} cannot become {to}.")
    now = timezone.now()
    fields: dict = {"status": to, "status_reason": reason}
    if to == CampaignStatus.SENDING and campaign.send_started is None:
        fields["send_started"] = now
    if to in (CampaignStatus.COMPLETED, CampaignStatus.CANCELED, CampaignStatus.FAILED):
        fields["send_completed"] = now
    updated = Campaign.objects.filter(pk=campaign.pk, status=current).update(**fields)
    if not updated:
        raise TransitionError(f"The campaign changed status while becoming {to}; try again.")
    for key, value in fields.items():
        setattr(campaign, key, value)
    return campaign
