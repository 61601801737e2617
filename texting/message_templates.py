"""Message templates (Compose item 6): a person's saved messages, optionally shared with
the account, and the six starter templates every account gets.

Visibility: a member sees their own templates, every shared one and the starters.
Changes: the owner, or an admin (MANAGE_ACCOUNT) for shared templates and starters.
Starters are seeded by `starter_templates_ensure` (seed_demo, and the first time an
account with no templates at all lists them); idempotent through the unique
(account, starter_key) constraint, so a deleted starter stays deleted while the account
has other templates.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import Account, Membership
from accounts.permissions import Capability, can

from .models import MessageTemplate

STARTER_TEMPLATES: list[tuple[str, str, str]] = [
    (
        "gotv_reminder",
        "GOTV reminder",
        "Hi {first_name|there}, Election Day is Tuesday! Polls are open 7am-8pm. "
        "Find your polling place: https://vote.org/polling-place-locator",
    ),
    (
        "event_rsvp",
        "Event RSVP",
        "Hi {first_name|there}, join us Saturday at 10am for our community town hall. "
        "Reply YES to RSVP and we'll save you a seat.",
    ),
    (
        "petition_push",
        "Petition push",
        "{first_name|there}, we're 500 signatures from our goal. Add your name to the "
        "petition today: https://example.org/petition",
    ),
    (
        "donor_ask",
        "Donor ask",
        "Hi {first_name|there}, our end-of-month deadline is midnight. Can you chip in $10 "
        "to keep us on the air? https://example.org/donate",
    ),
    (
        "volunteer_recruitment",
        "Volunteer recruitment",
        "Hi {first_name|there}, we need volunteers for phone banks this week. Reply "
        "VOLUNTEER and an organizer will reach out with shifts.",
    ),
    (
        "opt_in_confirmation",
        "Opt-in confirmation",
        "Thanks for joining our text updates! Expect up to 4 msgs/month. "
        "Msg & data rates may apply. Reply HELP for help.",
    ),
]


class TemplateError(Exception):
    """Bad input (400); `field` names it."""

    def __init__(self, message: str, field: str = "name"):
        super().__init__(message)
        self.field = field


class TemplatePermissionError(Exception):
    """The role or ownership does not allow the change (403)."""


def starter_templates_ensure(*, account: Account) -> int:
    """Create the account's missing starter templates (shared, no owner). Returns how
    many were created; running it again creates none."""
    rows = [
        MessageTemplate(account=account, name=name, body=body, shared=True, starter_key=key)
        for key, name, body in STARTER_TEMPLATES
    ]
    existing = set(
        MessageTemplate.objects.filter(account=account)
        .exclude(starter_key="")
        .values_list("starter_key", flat=True)
    )
    missing = [r for r in rows if r.starter_key not in existing]
    MessageTemplate.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


def template_list(*, account: Account, user: AbstractBaseUser) -> QuerySet[MessageTemplate]:
    """Own, shared and starter templates; the starters appear on first use."""
    if not MessageTemplate.objects.filter(account=account).exists():
        starter_templates_ensure(account=account)
    return MessageTemplate.objects.filter(account=account).filter(
        Q(created_by=user) | Q(shared=True)
    )


def access_template(*, account: Account, user: AbstractBaseUser, template_id: int):
    """A template the user may see, or 404 (another member's private one included)."""
    template = template_list(account=account, user=user).filter(pk=template_id).first()
    if template is None:
        raise Http404("No such template.")
    return template


def can_change(*, template: MessageTemplate, user: AbstractBaseUser, role: str) -> bool:
    """Its owner, or an admin (the starters too): the ownership rule of
    accounts.permissions (`EDIT_TEMPLATES` / `EDIT_ANY_TEMPLATE`)."""
    actor = Membership(user_id=user.pk, role=role)  # not saved: who, in which role
    return can(actor, Capability.EDIT_TEMPLATES, template)


def _clean(data: dict[str, Any], *, account: Account) -> dict[str, Any]:
    from .media import MediaError, media_validate_ids

    out: dict[str, Any] = {}
    if "name" in data:
        name = (data["name"] or "").strip()
        if not name:
            raise TemplateError("Give the template a name.", "name")
        if len(name) > 100:
            raise TemplateError("Keep the name to 100 characters.", "name")
        out["name"] = name
    if "body" in data:
        out["body"] = data["body"] or ""
        if len(out["body"]) > 1600:
            raise TemplateError("Keep the body to 1,600 characters.", "body")
    if "media_ids" in data:
        try:
            out["media_ids"] = media_validate_ids(
                account=account, media_ids=data["media_ids"] or []
            )
        except MediaError as exc:
            raise TemplateError(str(exc), "media_ids") from exc
    if "shared" in data:
        out["shared"] = bool(data["shared"])
    return out


def _save(template: MessageTemplate, fields: list[str] | None = None) -> MessageTemplate:
    try:
        with transaction.atomic():
            template.save(update_fields=fields)
    except IntegrityError as exc:
        raise TemplateError("You already have a template with this name.", "name") from exc
    return template


def template_create(
    *, account: Account, actor: AbstractBaseUser, data: dict[str, Any]
) -> MessageTemplate:
    clean = _clean({"body": "", **data}, account=account)
    if "name" not in clean:
        raise TemplateError("Give the template a name.", "name")
    return _save(MessageTemplate(account=account, created_by=actor, **clean))


def template_update(
    *, template: MessageTemplate, actor: AbstractBaseUser, role: str, data: dict[str, Any]
) -> MessageTemplate:
    """Rename, edit, share or unshare."""
    if not can_change(template=template, user=actor, role=role):
        raise TemplatePermissionError("Only its owner or an admin may change this template.")
    clean = _clean(data, account=template.account)
    for key, value in clean.items():
        setattr(template, key, value)
    return _save(template, [*clean, "updated_at"] if clean else None)


def template_delete(*, template: MessageTemplate, actor: AbstractBaseUser, role: str) -> None:
    if not can_change(template=template, user=actor, role=role):
        raise TemplatePermissionError("Only its owner or an admin may delete this template.")
    template.delete()


def template_from_campaign(*, campaign, actor: AbstractBaseUser, name: str, shared: bool = False):
    """Save a draft's body and attachments as a template."""
    return template_create(
        account=campaign.account,
        actor=actor,
        data={
            "name": name,
            "body": campaign.body,
            "media_ids": campaign.media_ids,
            "shared": shared,
        },
    )
