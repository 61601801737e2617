from typing import Any

from django import forms

from .geo import STATE_ZONES
from .models import Contact, Pool
from .phones import InvalidPhone, normalize_phone


class ContactForm(forms.Form):
    phone = forms.CharField(
        max_length=32,
        help_text="Any format; stored as +1XXXXXXXXXX.",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    preferred_name = forms.CharField(max_length=100, required=False)
    street = forms.CharField(max_length=200, required=False)
    city = forms.CharField(max_length=100, required=False)
    state = forms.CharField(
        max_length=2,
        required=False,
        help_text="Two letters, e.g. OR.",
        widget=forms.TextInput(attrs={"size": 3}),
    )
    zip = forms.RegexField(
        regex=r"^\d{5}(-\d{4})?$",
        max_length=10,
        required=False,
        label="ZIP",
        error_messages={"invalid": "Use a 5-digit ZIP, e.g. 97205."},
    )
    pool = forms.ChoiceField(choices=Pool.choices, initial=Pool.CONTACT)

    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_state(self) -> str:
        state = self.cleaned_data["state"].strip().upper()
        if state and state not in STATE_ZONES:
            raise forms.ValidationError("Use a US state or territory code, e.g. OR.")
        return state

    @staticmethod
    def initial_for(contact: Contact) -> dict[str, Any]:
        return {name: getattr(contact, name) for name in ContactForm.base_fields}
