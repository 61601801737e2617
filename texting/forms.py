from django import forms

from .models import MAX_DESCRIPTION, CampaignMode, SendMode


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False,
        max_length=MAX_DESCRIPTION,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For your team only.",
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


class CommitForm(forms.Form):
    """Send now or schedule, from the Tech Check tab (texting.commit.campaign_commit)."""

    send_mode = forms.ChoiceField(choices=SendMode.choices, initial=SendMode.NOW)
    schedule_at = forms.DateTimeField(
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="In the account's time zone.",
    )
    recipient_local_time = forms.BooleanField(
        required=False, label="At that time in each recipient's own time zone"
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("send_mode") == SendMode.SCHEDULE and not data.get("schedule_at"):
            self.add_error("schedule_at", "Pick the date and time to send.")
        return data
