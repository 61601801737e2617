from typing import Any

from django import forms

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
    zip = forms.CharField(max_length=10, required=False, label="ZIP")
    pool = forms.ChoiceField(choices=Pool.choices, initial=Pool.CONTACT)

    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_state(self) -> str:
        state = self.cleaned_data["state"].strip().upper()
        if state and (len(state) != 2 or not state.isalpha()):
            raise forms.ValidationError("Use the two-letter state code, e.g. OR.")
        return state

    @staticmethod
    def initial_for(contact: Contact) -> dict[str, Any]:
        return {name: getattr(contact, name) for name in ContactForm.base_fields}
