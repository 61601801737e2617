"""Panels other pages include: the Compose tab's media and templates controls, and the
Status tab's link clicks (texting.library_views, texting.links)."""

from django import template

from accounts.permissions import Capability, can

from ..links import campaign_click_totals, campaign_link_clicks
from ..media import media_url
from ..message_templates import template_list
from ..models import Campaign, CampaignStatus, Media

register = template.Library()


@register.inclusion_tag("campaigns/tabs/_compose_library.html", takes_context=True)
def compose_library(context, campaign: Campaign) -> dict:
    request = context["request"]
    ids = campaign.media_ids or []
    by_id = {m.pk: m for m in Media.objects.filter(account=campaign.account, pk__in=ids)}
    return {
        "campaign": campaign,
        "csrf_token": context.get("csrf_token"),
        "can_edit": campaign.status == CampaignStatus.DRAFT
        and can(request.membership.role, Capability.COMPOSE),
        "attached": [(by_id[i], media_url(by_id[i], ttl=3600)) for i in ids if i in by_id],
        "templates": list(template_list(account=campaign.account, user=request.user)),
    }


@register.inclusion_tag("campaigns/tabs/_link_clicks.html")
def link_clicks_panel(campaign: Campaign) -> dict:
    links = campaign_link_clicks(campaign=campaign)
    return {
        "links": links,
        "totals": campaign_click_totals(campaign=campaign) if links else None,
    }
