from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.models import Account

from . import live, tasks
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
    live.campaign_changed(campaign.pk)
    if to == CampaignStatus.SENDING:
        # Send now, resume, a scheduled start: loops start now, not at the next ticks.
        transaction.on_commit(tasks.kick_dispatch)
    return campaign


EDITABLE_FIELDS = (
    "name",
    "description",
    "tags",
    "mode",
    "body",
    "media_ids",
    "sender_ids",
    "local_presence",
    "audience",
    "stop_language",
    "exclusions",
    "compliance",
)


def campaign_create_from(*, account: Account, actor: AbstractBaseUser, data: dict) -> Campaign:
    fields = {k: v for k, v in data.items() if k in EDITABLE_FIELDS}
    fields["name"] = fields["name"].strip()
    return Campaign.objects.create(account=account, created_by=actor, **fields)


def campaign_update(*, campaign: Campaign, data: dict) -> Campaign:
    """Edit a draft. Anything past draft is fixed (409).

    The write is conditional on the row still being a draft (`UPDATE … WHERE status =
    'draft'`): an edit racing a commit either lands before it (and the commit's Tech
    Check sees it, under the commit's row lock) or changes nothing, so a sending campaign
    never gets media, a body or a config its Tech Check did not pass."""
    if campaign.status != CampaignStatus.DRAFT:
        raise TransitionError(f"Only a draft can be edited; this campaign is {campaign.status}.")
    fields = {k: v for k, v in data.items() if k in EDITABLE_FIELDS}
    if fields:
        changed = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
            **fields
        )
        if not changed:
            current = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True)
            raise TransitionError(
                f"Only a draft can be edited; this campaign is {current.first() or 'gone'}."
            )
    for key, value in fields.items():
        setattr(campaign, key, value)
    return campaign


def campaign_pause(*, campaign: Campaign, reason: str = "") -> Campaign:
    """In-flight sends finish; queued messages hold (the dispatcher skips paused campaigns)."""
    return campaign_transition(campaign=campaign, to=CampaignStatus.PAUSED, reason=reason)


def campaign_resume(*, campaign: Campaign) -> Campaign:
    target = (
        CampaignStatus.SCHEDULED
        if campaign.send_started is None and campaign.schedule_at
        else CampaignStatus.SENDING
    )
    return campaign_transition(campaign=campaign, to=target)


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Cancel, and cancel every message not yet handed to the provider, atomically."""
    from .models import Message, MessageStatus

    with transaction.atomic():
        campaign = campaign_transition(campaign=campaign, to=CampaignStatus.CANCELED)
        Message.objects.filter(
            campaign=campaign, status__in=[MessageStatus.QUEUED, MessageStatus.SCHEDULED]
        ).update(status=MessageStatus.CANCELED, error_reason="campaign canceled")
    return campaign


def campaign_throttle(*, campaign: Campaign, max_mps) -> Campaign:
    if campaign.status not in (
        CampaignStatus.DRAFT,
        CampaignStatus.SCHEDULED,
        CampaignStatus.SENDING,
        CampaignStatus.PAUSED,
    ):
        raise TransitionError(f"A campaign that is {campaign.status} cannot be throttled.")
    Campaign.objects.filter(pk=campaign.pk).update(max_mps=max_mps)
    campaign.max_mps = max_mps
    live.campaign_changed(campaign.pk)
    return campaign
