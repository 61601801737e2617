"""The campaign's Recipients tab: who the campaign names (pasted numbers, a CSV upload,
a Tribe or a filter), what it leaves out (exclusions), and the eligibility panel (total,
eligible, excluded by reason) that stays on screen until the campaign is committed.

Pasting numbers or uploading a file imports them as contacts (`contacts.imports`: new
numbers become phone-only records without consent) onto a list Tribe, and the Tribe
becomes the campaign's audience; an upload runs in the background and the tab shows
its progress."""

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.permissions import Capability, can
from accounts.views import member_page
from contacts import imports
from contacts.import_views import add_errors, progress_context
from contacts.models import ContactImport, Pool, Tribe, TribeKind

from . import services
from .campaign_serializers import CampaignInputSerializer
from .models import Campaign, CampaignStatus
from .selectors import access_campaign

# H7's partials for this tab (the Tribe picker, the filter builder): included when they
# exist, so the tab works before and after they land.
TRIBE_PICKER_TEMPLATE = "campaigns/tabs/_tribe_picker.html"
FILTER_BUILDER_TEMPLATE = "campaigns/tabs/_filter_builder.html"


class PasteNumbersForm(forms.Form):
    numbers = forms.CharField(
        label="Phone numbers",
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "503-555-0100\n(503) 555-0101"}),
        help_text="One per line, or separated by commas; up to 10,000.",
    )
    list_name = forms.CharField(
        label="Save as list", required=False, max_length=200, help_text="Optional name."
    )


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text="A “phone” column anywhere; up to 50,000 rows."
    )
    pool = forms.ChoiceField(label="Pool for new contacts", choices=Pool.choices)
    list_name = forms.CharField(label="Save as list", required=False, max_length=200)


class ExclusionsForm(forms.Form):
    messaged_within_hours = forms.IntegerField(
        label="Leave out anyone messaged in the last … hours",
        required=False,
        min_value=1,
        max_value=8760,
    )
    replied_to_campaign = forms.TypedChoiceField(
        label="Leave out anyone who replied to campaign",
        required=False,
        coerce=int,
        empty_value=None,
    )
    excluded_tribe_ids = forms.TypedMultipleChoiceField(
        label="Leave out members of Tribes", required=False, coerce=int
    )

    def __init__(self, *args, campaign: Campaign, **kwargs):
        super().__init__(*args, **kwargs)
        others = Campaign.objects.filter(account=campaign.account).exclude(pk=campaign.pk)
        self.fields["replied_to_campaign"].choices = [("", "—")] + [
            (c.pk, c.name) for c in others.order_by("-created_at")[:200]
        ]
        self.fields["excluded_tribe_ids"].choices = [
            (t.pk, t.name) for t in Tribe.objects.filter(account=campaign.account)
        ]

    @staticmethod
    def initial_for(campaign: Campaign) -> dict[str, Any]:
        return dict(campaign.exclusions or {})

    def exclusions(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "", [])}


def _template_or_none(name: str) -> str | None:
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return None
    return name


def audience_summary(campaign: Campaign) -> dict[str, Any]:
    """What the campaign's audience names, in words for the tab."""
    audience = campaign.audience or {}
    if "tribe_id" in audience:
        tribe = Tribe.objects.filter(account=campaign.account, pk=audience["tribe_id"]).first()
        if tribe is None:
            return {"kind": "tribe", "text": "A Tribe that no longer exists."}
        what = "list" if tribe.kind == TribeKind.LIST else "saved filter"
        return {"kind": "tribe", "tribe": tribe, "text": f"The Tribe “{tribe.name}” ({what})."}
    if "contact_ids" in audience:
        n = len(audience["contact_ids"])
        return {"kind": "contacts", "text": f"{n:,} chosen contact{'s' if n != 1 else ''}."}
    if "phones" in audience:
        n = len(audience["phones"])
        return {"kind": "phones", "text": f"{n:,} phone number{'s' if n != 1 else ''}."}
    if "filter" in audience:
        return {"kind": "filter", "text": "Everyone matching a filter."}
    return {"kind": "", "text": "No audience yet: paste numbers, upload a file or pick a Tribe."}


def recipients_context(
    request: HttpRequest,
    campaign: Campaign,
    *,
    paste_form: PasteNumbersForm | None = None,
    upload_form: UploadForm | None = None,
    exclusions_form: ExclusionsForm | None = None,
) -> dict[str, Any]:
    role = request.membership.role
    summary = audience_summary(campaign)
    context: dict[str, Any] = {
        "draft": campaign.status == CampaignStatus.DRAFT,
        "audience_summary": summary,
        "may_edit_audience": can(role, Capability.COMPOSE) and can(role, Capability.EDIT_CONTACTS),
        "may_edit_exclusions": can(role, Capability.COMPOSE),
        "paste_form": paste_form or PasteNumbersForm(),
        "upload_form": upload_form or UploadForm(),
        "exclusions_form": exclusions_form
        or ExclusionsForm(initial=ExclusionsForm.initial_for(campaign), campaign=campaign),
        "tribe_picker_template": _template_or_none(TRIBE_PICKER_TEMPLATE),
        "filter_builder_template": _template_or_none(FILTER_BUILDER_TEMPLATE),
    }
    tribe = summary.get("tribe")
    if tribe is not None:
        latest = (
            ContactImport.objects.filter(account=campaign.account, tribe=tribe)
            .defer("data")
            .order_by("-created_at")
            .first()
        )
        if latest is not None:
            context |= {"import_progress": progress_context(latest)}
    return context


def _render_tab(
    request: HttpRequest, campaign: Campaign, status: int, **forms_: Any
) -> HttpResponse:
    from .views import CAMPAIGN_TABS, _audit_context  # the tab frame lives there

    context: dict[str, Any] = {"campaign": campaign, "tab": "recipients", "tabs": CAMPAIGN_TABS}
    context |= _audit_context(campaign) | recipients_context(request, campaign, **forms_)
    return render(request, "campaigns/frame.html", context, status=status)


def _require_contact_editor(request: HttpRequest) -> None:
    """Pasting and uploading create contacts: composers who may also edit contacts."""
    if not can(request.membership.role, Capability.EDIT_CONTACTS):
        raise PermissionDenied(
            f"Your role ({request.membership.get_role_display()}) may not import contacts."
        )


def _use_tribe(campaign: Campaign, tribe: Tribe) -> None:
    services.campaign_update(campaign=campaign, data={"audience": {"tribe_id": tribe.pk}})


def _default_list_name(campaign: Campaign, what: str) -> str:
    stamp = timezone.localtime().strftime("%b %-d %H:%M:%S")
    return f"{campaign.name[:150]} — {what} {stamp}"


def _refuse_unless_draft(request: HttpRequest, campaign: Campaign) -> HttpResponse | None:
    if campaign.status == CampaignStatus.DRAFT:
        return None
    messages.error(
        request, f"The campaign is {campaign.get_status_display().lower()}; its audience is fixed."
    )
    return _render_tab(request, campaign, 409)


def _new_list_name_problem(account, name: str) -> str:
    """The Recipients tab makes a NEW list the audience: reusing an existing list's name
    would make the whole existing list (plus these numbers) the audience."""
    existing = Tribe.objects.filter(account=account, name=name.strip()).first()
    if existing is None:
        return ""
    return (
        f"A Tribe called “{existing.name}” exists already; pick a new name for this list "
        "(or choose that Tribe in the picker to send to all of it)."
    )


@require_POST
@member_page(Capability.COMPOSE, nav="campaigns")
def recipients_paste(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    _require_contact_editor(request)
    if (refused := _refuse_unless_draft(request, campaign)) is not None:
        return refused
    form = PasteNumbersForm(request.POST)
    if form.is_valid():
        name = form.cleaned_data["list_name"] or _default_list_name(campaign, "pasted")
        try:
            if problem := _new_list_name_problem(request.account, name):
                raise ValidationError({"tribe_name": problem})
            imp = imports.paste_import(
                account=request.account,
                actor=request.user,
                text=form.cleaned_data["numbers"],
                pool=Pool.VOTER if campaign.mode == "campaign" else Pool.CONTACT,
                tribe_name=name,
            )
        except ValidationError as exc:
            errors = exc.message_dict
            if "tribe_name" in errors:  # the service's name for this form's list name
                errors["list_name"] = errors.pop("tribe_name")
            add_errors(form, ValidationError(errors))
        else:
            _use_tribe(campaign, imp.tribe)
            problems = imp.invalid + imp.duplicates
            messages.success(
                request,
                f"{imp.total - problems:,} numbers are the audience now (list “{imp.tribe.name}”)"
                + (f"; {problems:,} left out, see below." if problems else "."),
            )
            return redirect("campaign-tab", campaign_id=campaign.pk, tab="recipients")
    return _render_tab(request, campaign, 400, paste_form=form)


@require_POST
@member_page(Capability.COMPOSE, nav="campaigns")
def recipients_upload(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    _require_contact_editor(request)
    if (refused := _refuse_unless_draft(request, campaign)) is not None:
        return refused
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        name = form.cleaned_data["list_name"] or _default_list_name(campaign, upload.name[:40])
        try:
            if upload.size > imports.IMPORT_MAX_BYTES:
                raise ValidationError({"file": "The file is larger than 20 MB; split it."})
            if problem := _new_list_name_problem(request.account, name):
                raise ValidationError({"list_name": problem})
            imp = imports.import_create(
                account=request.account,
                actor=request.user,
                data=upload.read(),
                filename=upload.name,
                pool=form.cleaned_data["pool"],
                tribe_name=name,
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            _use_tribe(campaign, imp.tribe)
            messages.success(
                request, f"Importing {imp.total:,} rows into the list “{imp.tribe.name}”."
            )
            return redirect("campaign-tab", campaign_id=campaign.pk, tab="recipients")
    return _render_tab(request, campaign, 400, upload_form=form)


@require_POST
@member_page(Capability.COMPOSE, nav="campaigns")
def recipients_exclusions(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    if (refused := _refuse_unless_draft(request, campaign)) is not None:
        return refused
    form = ExclusionsForm(request.POST, campaign=campaign)
    if form.is_valid():
        exclusions = form.exclusions()
        checked = CampaignInputSerializer(
            data={"exclusions": exclusions}, partial=True, context={"account": request.account}
        )
        if checked.is_valid():
            services.campaign_update(campaign=campaign, data={"exclusions": exclusions})
            messages.success(request, "Exclusions saved.")
            return redirect("campaign-tab", campaign_id=campaign.pk, tab="recipients")
        for key, errors in checked.errors.get("exclusions", {}).items():
            form.add_error(key if key in form.fields else None, errors)
    return _render_tab(request, campaign, 400, exclusions_form=form)
