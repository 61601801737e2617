from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from .models import Account
from .services import LoginThrottled, login_authenticate


class ThrottledLoginMixin:
    """AuthenticationForm.clean() through accounts.services.login_authenticate: wrong
    passwords are counted, and while the username or IP is over its limit the form says
    so in place (`throttled` is set; the view answers 429) instead of checking it."""

    throttled: LoginThrottled | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = login_authenticate(
                    request=self.request, username=username, password=password
                )
            except LoginThrottled as exc:
                self.throttled = exc
                raise ValidationError(exc.message, code="throttled") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class AccountSettingsForm(forms.Form):
    """Shape only; the rules (valid zone, STOP language) live in account_update_settings."""

    name = forms.CharField(max_length=200)
    timezone = forms.CharField(
        label="Time zone",
        max_length=64,
        help_text="IANA zone used when a contact's own zone is unknown.",
    )
    stop_language = forms.CharField(
        max_length=160,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Appended to every campaign message. Up to 160 characters.",
    )
    help_text = forms.CharField(
        max_length=320,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Sent in reply to HELP.",
    )
    opt_out_confirmation = forms.CharField(
        label="STOP confirmation",
        max_length=320,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Sent once when someone opts out. It only confirms: it must say they are "
        "unsubscribed or how to opt back in (Reply START), with no offers or links. "
        "Up to 320 characters.",
    )
    opt_in_confirmation = forms.CharField(
        label="Opt-in confirmation",
        max_length=320,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Sent when START or YES opts someone in. It must say how to opt out "
        "(Reply STOP); name your program and add Msg & data rates may apply.",
    )
    quiet_hours_start = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="No campaign sends after this time in the recipient's zone.",
    )
    quiet_hours_end = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Sending resumes at this time.",
    )

    @staticmethod
    def initial_for(account: Account) -> dict[str, Any]:
        return {name: getattr(account, name) for name in AccountSettingsForm.base_fields}
