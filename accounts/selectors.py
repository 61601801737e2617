from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from .models import Account, ApiToken, Membership


class AccountResolutionError(Exception):
    """The request does not say which account it acts on, or names one the user is not in."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def memberships_for_user(*, user: AbstractBaseUser) -> list[Membership]:
    return list(
        Membership.objects.select_related("account").filter(user=user).order_by("account__name")
    )


def membership_for_request(
    *, user: AbstractBaseUser, slug: str | None, allow_default: bool = False
) -> Membership:
    """The membership the request acts under.

    `slug` comes from the `X-Account` header (API) or the session (UI). Without one, a
    user with a single membership gets it; a user with several must choose, except in the
    UI (`allow_default`), which falls back to the first and shows the switcher.
    """
    memberships = Membership.objects.select_related("account").filter(user=user)
    if slug:
        membership = memberships.filter(account__slug=slug).first()
        if membership is None:
            raise AccountResolutionError(
                f"You are not a member of an account with slug '{slug}'.", status=403
            )
        return membership
    found = list(memberships.order_by("account__name")[:2])
    if not found:
        raise AccountResolutionError("Your user is not a member of any account.", status=403)
    if len(found) > 1 and not allow_default:
        slugs = ", ".join(m.account.slug for m in memberships.order_by("account__name"))
        raise AccountResolutionError(
            f"You belong to several accounts ({slugs}); choose one with the X-Account header.",
            status=400,
        )
    return found[0]


def membership_for_session(*, user: AbstractBaseUser | None, slug: str | None) -> Membership | None:
    """The membership a browser session acts under (the UI and its WebSockets): the
    account picked in the session, or the user's first when that slug is stale (the
    membership was removed). None for an anonymous user or one with no account."""
    if user is None or not user.is_authenticated:
        return None
    try:
        return membership_for_request(user=user, slug=slug, allow_default=True)
    except AccountResolutionError:
        if not slug:
            return None
    try:
        return membership_for_request(user=user, slug=None, allow_default=True)
    except AccountResolutionError:
        return None


def account_by_slug(*, slug: str) -> Account | None:
    return Account.objects.filter(slug=slug).first()


def access_member(*, account: Account, user_id: int) -> Membership:
    """The account's membership of user `user_id`; another account's member is a 404."""
    membership = (
        Membership.objects.select_related("user").filter(account=account, user_id=user_id).first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership


def access_member_tokens(*, account: Account, user_id: int) -> Membership:
    """The member whose API tokens this account's admins list and revoke. A token is
    its user's, good in every account they belong to, so a member who also belongs to
    another account manages their own: an admin here must neither see nor end their
    access there (403 saying so)."""
    membership = access_member(account=account, user_id=user_id)
    if _in_other_accounts(account=account, user_ids=[user_id]):
        raise PermissionDenied(
            f"{membership.user.get_username()} also belongs to another account, so their "
            "API tokens are theirs to list and revoke."
        )
    return membership


def _in_other_accounts(*, account: Account, user_ids: list[int]) -> set[int]:
    return set(
        Membership.objects.filter(user_id__in=user_ids)
        .exclude(account=account)
        .values_list("user_id", flat=True)
    )


def api_tokens_for_user(*, user: AbstractBaseUser) -> list[ApiToken]:
    """The user's live tokens, newest first (expired ones are as good as gone)."""
    return list(ApiToken.objects.filter(user=user, expires_at__gt=timezone.now()))


def api_tokens_by_user(
    *, account: Account, user_ids: list[int]
) -> dict[int, list[ApiToken] | None]:
    """Live tokens of several members in one query (Settings → Members); None for a
    member who also belongs to another account (access_member_tokens)."""
    shared = _in_other_accounts(account=account, user_ids=user_ids)
    tokens: dict[int, list[ApiToken] | None] = {
        user_id: None if user_id in shared else [] for user_id in user_ids
    }
    live = ApiToken.objects.filter(
        user_id__in=set(user_ids) - shared, expires_at__gt=timezone.now()
    )
    for token in live:
        tokens[token.user_id].append(token)
    return tokens
