from django import forms

from .models import CampaignMode


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="For your team only."
    )
    mode = forms.ChoiceField(
        choices=CampaignMode.choices,
        initial=CampaignMode.RELATIONSHIP,
        widget=forms.RadioSelect,
        help_text="Relationship texts opted-in contacts; Campaign mode reaches voters by manual sends.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the campaign a name.")
        return name
