"""Pages for message templates (account level, `/templates/`) and the Compose tab's
media and template controls (`campaigns/tabs/_compose_library.html`)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import Capability
from accounts.views import member_page

from . import message_templates as templates
from . import services
from .media import MediaError, media_upload_file, media_validate_ids
from .models import CampaignStatus
from .selectors import access_campaign


@member_page(Capability.COMPOSE, nav="templates")
def template_list_page(request: HttpRequest) -> HttpResponse:
    rows = [
        (t, templates.can_change(template=t, user=request.user, role=request.membership.role))
        for t in templates.template_list(account=request.account, user=request.user)
    ]
    return render(request, "texting/templates.html", {"rows": rows})


def _form_data(request: HttpRequest) -> dict:
    data = {"name": request.POST.get("name", ""), "body": request.POST.get("body", "")}
    data["shared"] = request.POST.get("shared") == "on"
    return data


@require_POST
@member_page(Capability.COMPOSE, nav="templates")
def template_create_page(request: HttpRequest) -> HttpResponse:
    try:
        template = templates.template_create(
            account=request.account, actor=request.user, data=_form_data(request)
        )
    except templates.TemplateError as exc:
        messages.error(request, f"{exc.field}: {exc}")
    else:
        messages.success(request, f"Saved the template “{template.name}”.")
    return redirect("template-list")


@require_POST
@member_page(Capability.COMPOSE, nav="templates")
def template_change_page(request: HttpRequest, template_id: int, action: str) -> HttpResponse:
    """`edit` (rename, body, sharing) or `delete`."""
    template = templates.access_template(
        account=request.account, user=request.user, template_id=template_id
    )
    role = request.membership.role
    try:
        if action == "delete":
            templates.template_delete(template=template, actor=request.user, role=role)
            messages.success(request, f"Deleted the template “{template.name}”.")
        elif action == "edit":
            templates.template_update(
                template=template, actor=request.user, role=role, data=_form_data(request)
            )
            messages.success(request, "Template saved.")
        else:
            raise PermissionDenied("Unknown action.")
    except templates.TemplatePermissionError as exc:
        raise PermissionDenied(str(exc)) from exc
    except templates.TemplateError as exc:
        messages.error(request, f"{exc.field}: {exc}")
    return redirect("template-list")


def _compose_tab(campaign_id: int) -> HttpResponse:
    return redirect("campaign-tab", campaign_id=campaign_id, tab="compose")


def _draft(request: HttpRequest, campaign_id: int):
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        raise PermissionDenied("Only a draft can be edited.")
    return campaign


@require_POST
@member_page(Capability.COMPOSE, nav="campaigns")
def compose_save_template(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Save the draft's saved body and attachments as a new template."""
    campaign = access_campaign(account=request.account, campaign_id=campaign_id)
    try:
        template = templates.template_from_campaign(
            campaign=campaign,
            actor=request.user,
            name=request.POST.get("name", ""),
            shared=request.POST.get("shared") == "on",
        )
    except templates.TemplateError as exc:
        messages.error(request, f"Template {exc.field}: {exc}")
    else:
        messages.success(request, f"Saved the draft as the template “{template.name}”.")
    return _compose_tab(campaign.pk)


@require_POST
@member_page(Capability.COMPOSE, nav="campaigns")
def compose_media(request: HttpRequest, campaign_id: int, action: str) -> HttpResponse:
    """`attach` an uploaded file to the draft, or `detach` one (`media_id`)."""
    campaign = _draft(request, campaign_id)
    ids = list(campaign.media_ids or [])
    try:
        if action == "attach":
            upload = request.FILES.get("file")
            if upload is None:
                raise MediaError("Choose a file to attach.")
            media = media_upload_file(account=request.account, actor=request.user, upload=upload)
            ids.append(media.pk)
        elif action == "detach":
            ids = [i for i in ids if str(i) != request.POST.get("media_id")]
        else:
            raise PermissionDenied("Unknown action.")
        ids = media_validate_ids(account=request.account, media_ids=ids)
    except MediaError as exc:
        messages.error(request, f"{exc.field}: {exc}")
        return _compose_tab(campaign.pk)
    services.campaign_update(campaign=campaign, data={"media_ids": ids})
    return _compose_tab(campaign.pk)
