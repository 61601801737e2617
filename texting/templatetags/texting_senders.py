"""The Compose tab's sender picker (texting.sender_views)."""

from django import template

from ..models import Campaign
from ..sender_views import senders_context

register = template.Library()


@register.inclusion_tag("campaigns/tabs/_compose_senders.html", takes_context=True)
def compose_senders(context, campaign: Campaign) -> dict:
    request = context["request"]
    return {
        **senders_context(campaign=campaign, role=request.membership.role),
        "csrf_token": context.get("csrf_token"),
    }
