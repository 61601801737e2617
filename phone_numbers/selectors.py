from django.db.models import BooleanField, Case, QuerySet, Value, When

from accounts.models import Account

from .models import NumberStatus, PhoneNumber


def number_list(*, account: Account) -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.filter(account=account)


def active_senders(*, account: Account) -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.filter(account=account, status=NumberStatus.ACTIVE)


def sender_choices(*, account: Account) -> QuerySet[PhoneNumber]:
    """The account's numbers for a campaign's sender picker: active ones first."""
    inactive = Case(
        When(status=NumberStatus.ACTIVE, then=Value(False)),
        default=Value(True),
        output_field=BooleanField(),
    )
    return PhoneNumber.objects.filter(account=account).order_by(inactive, "kind", "e164")


def number_owner(*, e164: str) -> PhoneNumber | None:
    """Which account owns this number (inbound routing: the `to` of an inbound SMS)."""
    return PhoneNumber.objects.select_related("account").filter(e164=e164).first()
