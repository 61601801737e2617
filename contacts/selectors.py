from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Account

from .models import Contact, EngagementEvent, EventType
from .phones import ascii_digits, try_normalize_phone


def access_contact(*, account: Account, contact_id: int) -> Contact:
    """The account's contact, or 404 (also for another tenant's id)."""
    return get_object_or_404(
        Contact.objects.select_related("account"), account=account, pk=contact_id
    )


def contact_list(*, account: Account, phone: str = "", q: str = "") -> QuerySet[Contact]:
    contacts = Contact.objects.filter(account=account)
    if phone:
        contacts = contacts.filter(phone=try_normalize_phone(phone) or phone.strip())
    if q:
        terms = Q()
        for word in q.split():
            term = (
                Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
                | Q(preferred_name__icontains=word)
                | Q(city__icontains=word)
            )
            digits = ascii_digits(word)
            if len(digits) >= 3:
                term |= Q(phone__contains=digits)
            terms &= term
        contacts = contacts.filter(terms)
    return contacts


def contact_history(*, contact: Contact) -> QuerySet[EngagementEvent]:
    return EngagementEvent.objects.filter(account_id=contact.account_id, contact=contact).order_by(
        "-at", "-id"
    )


def inbound_already_recorded(*, contact: Contact, provider_message_id: str) -> bool:
    """Whether this inbound message (the provider's id) is on the contact's history
    already: a provider that sends one message again under a new event id must not
    have it applied twice. Uses the (contact, -at) index."""
    if not provider_message_id:
        return False
    return EngagementEvent.objects.filter(
        contact=contact,
        type=EventType.SMS_RECEIVED,
        data__provider_message_id=provider_message_id,
    ).exists()
