from typing import Any

from django import forms

from .models import Account


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
