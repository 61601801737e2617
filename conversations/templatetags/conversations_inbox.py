"""Conversation panels other apps' pages include without importing conversations
(texting sits below it): the campaign frame's Conversations tab and the Dashboard's
recent replies. Same partials and selectors as the inbox."""

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from accounts.permissions import Capability, can

from .. import views

register = template.Library()


def _allowed(request) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and can(membership.role, Capability.VIEW_CONVERSATIONS)


@register.simple_tag(takes_context=True)
def campaign_conversations(context, campaign) -> SafeString:
    request = context["request"]
    if not _allowed(request):
        return mark_safe('<p class="muted">Your role may not see conversations.</p>')
    return mark_safe(
        render_to_string(
            "conversations/_campaign_tab.html",
            views.campaign_conversations_context(request, campaign),
            request,
        )
    )


@register.simple_tag(takes_context=True)
def recent_replies_panel(context) -> SafeString:
    request = context["request"]
    if not _allowed(request):
        return mark_safe("")
    return mark_safe(views.render_recent_replies(request))
