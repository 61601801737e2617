from django.contrib.auth.models import AbstractBaseUser

from accounts.models import Account

from .models import Campaign


def campaign_create(
    *,
    account: Account,
    actor: AbstractBaseUser,
    name: str,
    description: str = "",
    mode: str = "relationship",
) -> Campaign:
    return Campaign.objects.create(
        account=account, name=name.strip(), description=description, mode=mode, created_by=actor
    )
