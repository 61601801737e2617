"""The contact page's consent panel: the trail and the "Record consent" form.

`contacts` cannot import `compliance`, so the contact page renders the panel through
the `consent_panel` template tag (compliance/templatetags/consent_trail.py) and the form
posts here. One partial (`compliance/_consents.html`) renders the first load and every
htmx update.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.permissions import Capability, can
from accounts.views import member_page, require_capability
from contacts.models import Contact
from contacts.selectors import access_contact

from .consent import ConsentError, consent_record, consent_trail
from .models import ConsentMethod, ConsentSource

TRAIL_SHOWN = 100


class ConsentForm(forms.Form):
    """Shape only; the rules live in compliance.consent.consent_record."""

    source_type = forms.ChoiceField(label="Source", choices=ConsentSource.choices)
    source_ref = forms.CharField(
        label="Source reference",
        required=False,
        max_length=300,
        help_text="Which form, survey, event or call: enough to find the evidence again.",
    )
    consent_language = forms.CharField(
        label="Consent language",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The exact words the person agreed to (required for forms, surveys and "
        "calls to action).",
    )
    method = forms.ChoiceField(
        choices=ConsentMethod.choices,
        initial=ConsentMethod.SINGLE,
        widget=forms.RadioSelect,
        help_text="Double: the contact stays pending until they reply YES.",
    )
    captured_at = forms.DateTimeField(
        label="Captured at",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="When the person gave consent (blank: now), in the account's time zone.",
    )


def consent_panel_context(
    *, contact: Contact, may_record: bool, form: ConsentForm | None = None
) -> dict[str, Any]:
    return {
        "contact": contact,
        "consents": list(consent_trail(contact=contact)[:TRAIL_SHOWN]),
        "consent_form": (form or ConsentForm()) if may_record else None,
        "opted_out": contact.sms_status == "opted_out",
    }


@member_page(Capability.VIEW_CONTACTS, nav="contacts")
def contact_consents_page(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = access_contact(account=request.account, contact_id=contact_id)
    form = None
    if request.method == "POST":
        require_capability(request, Capability.EDIT_CONTACTS)
        form = ConsentForm(request.POST)
        if form.is_valid():
            try:
                consent_record(contact=contact, actor=request.user, **form.cleaned_data)
            except ConsentError as exc:
                for field, message in exc.errors.items():
                    form.add_error(field if field in form.fields else None, message)
            else:
                messages.success(request, "Consent recorded.")
                # The status badge and history on the page changed too: reload it whole.
                target = reverse("contact-detail", args=[contact.pk])
                if request.htmx:
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = target
                    return response
                return redirect(target)
    context = consent_panel_context(
        contact=contact,
        may_record=can(request.membership.role, Capability.EDIT_CONTACTS),
        form=form,
    )
    if request.htmx:
        # 200 even with errors: htmx swaps only 2xx answers into the page.
        return render(request, "compliance/_consents.html", context)
    status = 400 if form is not None and form.errors else 200
    return render(request, "compliance/consents.html", context, status=status)
