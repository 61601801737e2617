from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Account

from .models import Campaign


def campaign_list(*, account: Account) -> QuerySet[Campaign]:
    return Campaign.objects.filter(account=account)


def access_campaign(*, account: Account, campaign_id: int) -> Campaign:
    return get_object_or_404(Campaign, account=account, pk=campaign_id)
