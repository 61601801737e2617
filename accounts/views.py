"""Account-level pages: the page guard every app's views use, switching, settings."""

from collections.abc import Callable
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .api import SESSION_ACCOUNT_KEY
from .forms import AccountSettingsForm, LoginForm
from .permissions import Capability, can, require
from .selectors import (
    AccountResolutionError,
    access_member_tokens,
    api_tokens_by_user,
    membership_for_request,
    memberships_for_user,
)
from .services import account_update_settings, api_tokens_revoke

View = Callable[..., HttpResponse]


def member_page(capability: Capability | None = None, *, nav: str = "") -> Callable[[View], View]:
    """Guard for every account page: logged in, a member of some account, allowed by role.

    `request.account` / `request.membership` come from CurrentAccountMiddleware. A user
    without any membership gets a page that says so; a role without `capability` gets 403.
    `nav` names the highlighted navigation item.
    """

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            request.nav = nav
            request.switchable_memberships = SimpleLazyObject(
                lambda: memberships_for_user(user=request.user)
            )
            if request.membership is None:
                return render(request, "accounts/no_account.html", status=403)
            if capability is not None:
                require(request.membership, capability)
            # Pages show times in the account's zone (render() renders inside the view).
            with timezone.override(_zone(request.account.timezone)):
                return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # UTC, the server default


def require_capability(request: HttpRequest, capability: Capability, obj: Any = None) -> None:
    """For a page everyone may read but only some may change (a POST, a form); with
    `obj`, the ownership rules of accounts.permissions apply (403 with the reason)."""
    require(request.membership, capability, obj)


class LoginView(auth_views.LoginView):
    """The sign-in page, behind the password-guessing limits (LoginForm): while they
    refuse, the page says for how long, with status 429."""

    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form: LoginForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.throttled is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.throttled.wait)
        return response


class LogoutView(auth_views.LogoutView):
    """Logging out of the UI ends the user's API tokens too (issue 14): signing out is
    the one gesture that must leave nothing signed in behind it."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated:
            api_tokens_revoke(user=request.user)
        return super().post(request, *args, **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's form (old password, the AUTH_PASSWORD_VALIDATORS rules). The change
    ends every other session (Django's session hash) and every API token
    (accounts.signals); this browser stays signed in."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("account-settings")

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(
            self.request,
            "Password changed. Your other sessions and your API tokens have been signed out.",
        )
        return response


@require_POST
@login_required
def account_switch(request: HttpRequest) -> HttpResponse:
    slug = request.POST.get("slug", "").strip()
    try:
        if not slug:
            raise AccountResolutionError("Choose an account.", status=400)
        membership = membership_for_request(user=request.user, slug=slug)
    except AccountResolutionError as exc:
        raise PermissionDenied(exc.message) from exc
    request.session[SESSION_ACCOUNT_KEY] = membership.account.slug
    messages.success(request, f"Now working in {membership.account.name}.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "dashboard"
    return redirect(target)


@member_page(nav="settings")
def account_settings(request: HttpRequest) -> HttpResponse:
    account = request.account
    editable = can(request.membership.role, Capability.MANAGE_ACCOUNT)
    form = None
    if request.method == "POST":
        require_capability(request, Capability.MANAGE_ACCOUNT)
        form = AccountSettingsForm(request.POST)
        if form.is_valid():
            try:
                account_update_settings(account=account, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("account-settings")
    elif editable:
        form = AccountSettingsForm(initial=AccountSettingsForm.initial_for(account))
    members = list(account.memberships.select_related("user").order_by("user__username"))
    if editable:  # admins see (and may revoke) each member's API tokens
        tokens = api_tokens_by_user(
            account=account, user_ids=[member.user_id for member in members]
        )
        for member in members:
            member.tokens = tokens[member.user_id]
    return render(
        request,
        "accounts/settings.html",
        {"account": account, "form": form, "editable": editable, "members": members},
    )


@require_POST
@member_page(Capability.MANAGE_ACCOUNT, nav="settings")
def member_tokens_revoke(request: HttpRequest, user_id: int) -> HttpResponse:
    """Settings → Members: revoke one of a member's API tokens (`token`), or all."""
    member = access_member_tokens(account=request.account, user_id=user_id)
    token_id = request.POST.get("token", "all")
    name = member.user.get_username()
    if token_id != "all" and not (token_id.isascii() and token_id.isdigit() and len(token_id) < 19):
        messages.error(request, f"{name} has no such API token; nothing was revoked.")
        return redirect("account-settings")
    revoked = api_tokens_revoke(
        user=member.user, token_id=None if token_id == "all" else int(token_id)
    )
    if revoked:
        noun = "token" if revoked == 1 else "tokens"
        messages.success(request, f"Revoked {revoked} API {noun} of {name}.")
    else:
        messages.info(request, f"{name} had no such API token.")
    return redirect("account-settings")
