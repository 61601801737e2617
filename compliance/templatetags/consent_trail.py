"""`{% consent_panel contact %}`: the contact page's consent trail and "Record consent"
form (`contacts` sits above `compliance` and cannot import it)."""

from django import template

from accounts.permissions import Capability, can
from contacts.models import Contact

from ..consent_views import consent_panel_context

register = template.Library()


@register.inclusion_tag("compliance/_consents.html", takes_context=True)
def consent_panel(context: template.Context, contact: Contact) -> dict:
    membership = context["request"].membership
    panel = consent_panel_context(
        contact=contact, may_record=can(membership.role, Capability.EDIT_CONTACTS)
    )
    return {**panel, "csrf_token": context.get("csrf_token"), "request": context["request"]}
