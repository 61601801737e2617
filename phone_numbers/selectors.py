from django.db.models import QuerySet

from accounts.models import Account

from .models import NumberStatus, PhoneNumber


def number_list(*, account: Account) -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.filter(account=account)


def active_senders(*, account: Account) -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.filter(account=account, status=NumberStatus.ACTIVE)


def number_owner(*, e164: str) -> PhoneNumber | None:
    """Which account owns this number (inbound routing: the `to` of an inbound SMS)."""
    return PhoneNumber.objects.select_related("account").filter(e164=e164).first()
