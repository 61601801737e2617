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
