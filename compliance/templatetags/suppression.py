"""Template tags for pages of other apps that show a phone's DNC state (the contact
page: `contacts` sits above `compliance` and cannot import it)."""

from django import template

from contacts.models import Contact

from ..models import DncEntry
from ..suppression import dnc_entry_for_phone

register = template.Library()


@register.simple_tag
def dnc_entry_for(contact: Contact) -> DncEntry | None:
    """`{% dnc_entry_for contact as entry %}`: the contact's phone's DNC entry, or None."""
    return dnc_entry_for_phone(account=contact.account, phone=contact.phone)
