from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Account, Membership, Role


class AccountError(Exception):
    pass


@transaction.atomic
def account_create(*, slug: str, name: str, admin_username: str, admin_password: str | None) -> Account:
    if Account.objects.filter(slug=slug).exists():
        raise AccountError(f"An account with slug '{slug}' already exists.")
    account = Account.objects.create(slug=slug, name=name)
    membership_add(account=account, username=admin_username, role=Role.ADMIN, password=admin_password)
    return account


@transaction.atomic
def membership_add(*, account: Account, username: str, role: str, password: str | None) -> Membership:
    """Add (or re-role) a member; creates the user when it does not exist yet."""
    if role not in Role.values:
        raise AccountError(f"Unknown role '{role}'; choose one of {', '.join(Role.values)}.")
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        if not password:
            raise AccountError(f"User '{username}' does not exist; give --password to create it.")
        user = User.objects.create_user(username=username, password=password)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    membership, _ = Membership.objects.update_or_create(user=user, account=account, defaults={"role": role})
    return membership
