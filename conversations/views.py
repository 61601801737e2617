"""Conversation pages: the inbox (account-wide and a campaign's tab), the phone-like
thread, macros, and the Dashboard's recent replies.

Every read goes through conversations.selectors (account and role scope: a field user
reaches only their assigned threads, 404 otherwise); every change through
conversations.services. The same partials render the first load, every htmx swap and
every live refresh (static/js/inbox.js, fed by conversations.consumers).
"""

from dataclasses import dataclass
from typing import Any

from django.contrib import messages as flash
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from accounts.models import Membership
from accounts.permissions import Capability, NotAllowed, can
from accounts.views import member_page, require_capability
from contacts.models import Tribe
from providers.base import web_url
from texting.media import MAX_MEDIA_PER_MESSAGE, MediaError, media_upload_file, media_urls
from texting.models import Campaign, Direction

from . import services
from .models import Conversation, ConversationStatus
from .selectors import (
    THREAD_PAGE,
    ConversationFilters,
    FilterError,
    access_conversation,
    access_macro,
    conversation_campaigns,
    conversation_list,
    conversation_tribes,
    filters_from_params,
    macro_list,
    recent_conversations,
    thread_messages,
)

LIST_PAGE = 50
RECENT_REPLIES = 8
# The composer's merge-field buttons (texting.merge syntax; `{name|fallback}` also works).
MERGE_FIELDS = ("first_name", "last_name", "preferred_name")


# --- helpers --------------------------------------------------------------------------


def _members(request: HttpRequest) -> list[Membership]:
    """The account's members (assign-to choices and assignee names), one query."""
    return list(
        Membership.objects.filter(account=request.account)
        .select_related("user")
        .order_by("user__username")
    )


def _partial(request: HttpRequest, target: str) -> bool:
    htmx = request.htmx
    return bool(htmx and htmx.target == target and not htmx.history_restore_request)


def _vary(response: HttpResponse) -> HttpResponse:
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


def _may_reply(request: HttpRequest) -> bool:
    return can(request.membership, Capability.REPLY_CONVERSATIONS)


def _may_assign(request: HttpRequest) -> bool:
    """Handing threads to others: admins and managers (a field user works their own)."""
    return can(request.membership, Capability.ASSIGN_CONVERSATIONS)


def _may_mark_spam(request: HttpRequest) -> bool:
    """Spam lists the phone on the DNC list: admins and managers (accounts.permissions)."""
    return can(request.membership, Capability.MARK_SPAM)


# --- the inbox ------------------------------------------------------------------------


@dataclass
class Row:
    conversation: Conversation
    campaign: Campaign | None
    assignee: str


def _list_context(request: HttpRequest, *, campaign: Campaign | None = None) -> dict[str, Any]:
    params = request.GET.copy()
    if campaign is not None:
        params["campaign"] = str(campaign.pk)
    error = None
    try:
        filters = filters_from_params(params)
        rows = conversation_list(
            account=request.account, membership=request.membership, filters=filters
        )
        page = Paginator(rows, LIST_PAGE).get_page(request.GET.get("page"))
        conversations = list(page.object_list)
    except FilterError as exc:
        error = {"field": exc.field, "message": exc.message}
        filters, page, conversations = ConversationFilters(), None, []
    names = {m.user_id: m.user.get_username() for m in _members(request)}
    campaigns = conversation_campaigns(
        account=request.account, ids=[c.campaign_id for c in conversations]
    )
    query = params.copy()
    query.pop("page", None)
    return {
        "rows": [
            Row(c, campaigns.get(c.campaign_id), names.get(c.assigned_to_id, ""))
            for c in conversations
        ],
        "page": page,
        "filters": filters,
        "filter_error": error,
        "query": query.urlencode(),
        "list_url": reverse("conversation-inbox"),
        "fixed_campaign": campaign,
        "may_reply": _may_reply(request),  # the rows' checkboxes (send a macro)
    }


def _filter_choices(request: HttpRequest) -> dict[str, Any]:
    return {
        "statuses": ConversationStatus.choices,
        "campaign_choices": Campaign.objects.filter(account=request.account)
        .exclude(status="draft")
        .order_by("-id")
        .only("id", "name")[:200],
        "tribe_choices": Tribe.objects.filter(account=request.account)
        .order_by("name")
        .only("id", "name"),
        "macros": macro_list(account=request.account),
        "may_reply": _may_reply(request),
        "params": request.GET,
    }


@member_page(Capability.VIEW_CONVERSATIONS, nav="conversations")
def inbox(request: HttpRequest) -> HttpResponse:
    context = _list_context(request)
    if _partial(request, "conversation-list"):
        return _vary(render(request, "conversations/_list.html", context))
    context |= _filter_choices(request)
    return _vary(render(request, "conversations/inbox.html", context))


def campaign_conversations_context(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    """The campaign's Conversations tab: the inbox's partials, fixed to the campaign
    (used by the conversations_inbox template tag the campaign frame loads)."""
    return _list_context(request, campaign=campaign) | _filter_choices(request)


# --- the thread -----------------------------------------------------------------------


@dataclass
class Bubble:
    message: Any
    inbound: bool
    images: list[str]
    files: list[str]


def _bubbles(rows) -> list[Bubble]:
    """Newest-first rows as bubbles, oldest first (the way a phone shows them)."""
    out = []
    for message in reversed(rows):
        inbound = message.direction == Direction.INBOUND
        images, files = [], []
        if inbound:
            for item in message.media or []:
                url = item.get("url") if isinstance(item, dict) else None
                if not web_url(url):  # a javascript: or data: URL is never a link
                    continue
                kind = str(item.get("content_type", ""))
                (images if kind.startswith("image/") else files).append(url)
        else:
            for url in media_urls(message.media_ids, absolute=False):  # our page's host
                lower = url.lower()
                is_image = lower.endswith((".png", ".jpg", ".jpeg", ".gif"))
                (images if is_image else files).append(url)
        out.append(Bubble(message, inbound, images, files))
    return out


def _thread_page(request: HttpRequest, conversation: Conversation, before: int | None):
    rows = thread_messages(conversation=conversation, before=before)
    older_url = None
    if len(rows) >= THREAD_PAGE:
        older_url = (
            reverse("conversation-messages", args=[conversation.pk]) + f"?before={rows[-1].pk}"
        )
    return {"bubbles": _bubbles(rows), "older_url": older_url, "conversation": conversation}


def _header_context(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    campaigns = conversation_campaigns(account=request.account, ids=[conversation.campaign_id])
    return {
        "conversation": conversation,
        "campaign": campaigns.get(conversation.campaign_id),
        "tribes": conversation_tribes(conversation=conversation),
        "members": _members(request) if _may_assign(request) else [],
        "may_reply": _may_reply(request),
        "may_assign": _may_assign(request),
        "may_mark_spam": _may_mark_spam(request),
        "statuses": ConversationStatus.choices,
    }


def _access(request: HttpRequest, conversation_id: int) -> Conversation:
    return access_conversation(
        account=request.account, membership=request.membership, conversation_id=conversation_id
    )


@member_page(Capability.VIEW_CONVERSATIONS, nav="conversations")
def thread(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _access(request, conversation_id)
    if conversation.unread and _may_reply(request):  # a viewer's reading changes nothing
        services.conversation_mark_read(conversation=conversation)
    context = _header_context(request, conversation) | _thread_page(request, conversation, None)
    context["merge_fields"] = MERGE_FIELDS
    return render(request, "conversations/thread.html", context)


@member_page(Capability.VIEW_CONVERSATIONS, nav="conversations")
def thread_messages_page(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The bubbles partial: the newest page (live refresh; marks the thread read, the
    reader is looking at it) or, with `before=<message id>`, the page before it."""
    conversation = _access(request, conversation_id)
    raw = request.GET.get("before", "").strip()
    before = None
    if raw:
        if not raw.isdigit():
            raise Http404("before must be a message id.")
        before = int(raw)
    elif conversation.unread and _may_reply(request):
        services.conversation_mark_read(conversation=conversation)
    context = _thread_page(request, conversation, before)
    return _vary(render(request, "conversations/_bubbles.html", context))


@member_page(Capability.VIEW_CONVERSATIONS, nav="conversations")
def thread_header(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _access(request, conversation_id)
    return _vary(
        render(request, "conversations/_header.html", _header_context(request, conversation))
    )


# --- the Dashboard's recent replies ---------------------------------------------------


def recent_replies_context(request: HttpRequest) -> dict[str, Any]:
    conversations = recent_conversations(
        account=request.account, membership=request.membership, limit=RECENT_REPLIES
    )
    return {"recent": conversations}


@member_page(Capability.VIEW_CONVERSATIONS, nav="dashboard")
def recent_replies(request: HttpRequest) -> HttpResponse:
    return _vary(render(request, "conversations/_recent.html", recent_replies_context(request)))


def render_recent_replies(request: HttpRequest) -> str:
    return render_to_string("conversations/_recent.html", recent_replies_context(request), request)


# --- changes: reply, update, macros ---------------------------------------------------


def _field_error(exc: services.ConversationInputError) -> dict[str, str]:
    return {"field": exc.field, "message": exc.message}


@require_POST
@member_page(Capability.VIEW_CONVERSATIONS, nav="conversations")
def thread_reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    require_capability(request, Capability.REPLY_CONVERSATIONS)
    conversation = _access(request, conversation_id)
    body = request.POST.get("body", "")
    context: dict[str, Any] = {"conversation": conversation, "merge_fields": MERGE_FIELDS}
    status = 200
    try:
        media_ids = _uploaded_media(request)
        services.conversation_reply(
            conversation=conversation, body=body, actor=request.user, media_ids=media_ids
        )
    except MediaError as exc:
        context |= {"error": {"field": exc.field, "message": str(exc)}, "body": body}
        status = 400
    except services.ConversationInputError as exc:
        context |= {"error": _field_error(exc), "body": body}
        status = 400
    except services.ReplyBlocked as exc:
        context |= {"error": {"field": "body", "message": exc.message}, "body": body}
        status = 422
    except services.ConversationStateError as exc:
        context |= {"error": {"field": "body", "message": str(exc)}, "body": body}
        status = 409
    else:
        context["sent"] = True
    if not request.htmx:
        if status == 200:
            flash.success(request, "Reply queued.")
        else:
            flash.error(request, context["error"]["message"])
        return redirect("conversation-thread", conversation_id=conversation.pk)
    response = render(request, "conversations/_composer.html", context, status=status)
    if status == 200:
        response["HX-Trigger"] = "inbox:sent"
    return response


def _uploaded_media(request: HttpRequest) -> list[int]:
    """The composer's attachments (`file`, several allowed), stored as MMS media
    (texting.media: sniffed, images fitted under the provider's limit). Raises
    MediaError naming the file. A reply refused afterwards leaves them unused; the
    media cleanup deletes them after the retention period."""
    uploads = request.FILES.getlist("file")
    if len(uploads) > MAX_MEDIA_PER_MESSAGE:
        raise MediaError(f"At most {MAX_MEDIA_PER_MESSAGE} attachments.")
    ids = []
    for upload in uploads:
        try:
            media = media_upload_file(account=request.account, actor=request.user, upload=upload)
        except MediaError as exc:
            raise MediaError(f"{upload.name}: {exc}", exc.field) from None
        ids.append(media.pk)
    return ids


def _update_data(request: HttpRequest) -> dict[str, Any]:
    """The header's forms: each posts only what it changes (`action` says which)."""
    action = request.POST.get("action", "")
    if action == "assign":
        return {"assigned_to": request.POST.get("assigned_to", "") or None}
    if action in ("resolve", "reopen", "spam"):
        status = {"resolve": "resolved", "reopen": "open", "spam": "spam"}[action]
        return {"status": status}
    if action == "snooze":
        return {"status": "snoozed", "snooze_until": request.POST.get("snooze_until", "")}
    if action == "tags":
        raw = request.POST.get("tags", "")
        return {"tags": [t.strip().lstrip("#") for t in raw.split(",") if t.strip()]}
    raise services.ConversationInputError("action", f"Unknown action {action!r}.")


@require_POST
@member_page(Capability.VIEW_CONVERSATIONS, nav="conversations")
def thread_update(request: HttpRequest, conversation_id: int) -> HttpResponse:
    require_capability(request, Capability.REPLY_CONVERSATIONS)
    conversation = _access(request, conversation_id)
    status, error = 200, None
    try:
        data = _update_data(request)
        if data.get("snooze_until"):
            data["snooze_until"] = _local_datetime(request, data["snooze_until"])
        # The role check is the service's (update_requires), the API's too.
        conversation = services.conversation_update(
            conversation=conversation, actor=request.user, data=data, membership=request.membership
        )
    except services.ConversationInputError as exc:
        status, error = 400, _field_error(exc)
    except NotAllowed as exc:
        if not request.htmx:
            raise  # the 403 page, with the sentence
        status, error = 403, {"field": "action", "message": str(exc)}
    if not request.htmx:
        if error:
            flash.error(request, error["message"])
        try:
            return redirect(
                "conversation-thread", conversation_id=_access(request, conversation.pk).pk
            )
        except Http404:  # no longer in this user's scope (handed to someone else)
            return redirect("conversation-inbox")
    try:
        conversation = _access(request, conversation.pk)
    except Http404:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("conversation-inbox")
        return response
    context = _header_context(request, conversation) | {"error": error}
    return render(request, "conversations/_header.html", context, status=status)


def _local_datetime(request: HttpRequest, raw: str):
    """A `datetime-local` input's value is wall time in the account's zone."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    when = parse_datetime(raw)
    if when is None:
        raise services.ConversationInputError(
            "snooze_until", "Pick a date and time to snooze until."
        )
    if timezone.is_naive(when):
        when = timezone.make_aware(when)  # the page guard set the account's zone
    return when


@require_POST
@member_page(Capability.VIEW_CONVERSATIONS, nav="conversations")
def macro_send_view(request: HttpRequest) -> HttpResponse:
    require_capability(request, Capability.REPLY_CONVERSATIONS)
    context: dict[str, Any] = {}
    status = 200
    try:
        raw = request.POST.get("macro", "").strip()
        if not raw.isdigit():
            raise services.ConversationInputError("macro", "Choose a macro to send.")
        macro = access_macro(account=request.account, macro_id=int(raw))
        outcomes = services.macro_send(
            macro=macro,
            conversation_ids=request.POST.getlist("conversation"),
            actor=request.user,
            membership=request.membership,
        )
    except services.ConversationInputError as exc:
        context["error"] = _field_error(exc)
        status = 400
    else:
        names = dict(
            Conversation.objects.filter(
                account=request.account, pk__in=[o.conversation_id for o in outcomes]
            ).values_list("pk", "contact__phone")
        )
        context |= {
            "macro": macro,
            "outcomes": [(o, names.get(o.conversation_id, "")) for o in outcomes],
            "queued": sum(o.status == "queued" for o in outcomes),
        }
    return render(request, "conversations/_macro_result.html", context, status=status)


@member_page(Capability.VIEW_CONVERSATIONS, nav="conversations")
def macro_list_page(request: HttpRequest) -> HttpResponse:
    editable = can(request.membership, Capability.EDIT_MACROS)  # may write new ones
    error, values = None, {}
    if request.method == "POST":
        require_capability(request, Capability.EDIT_MACROS)
        values = {"name": request.POST.get("name", ""), "body": request.POST.get("body", "")}
        try:
            macro = services.macro_create(account=request.account, actor=request.user, **values)
        except services.ConversationInputError as exc:
            error = _field_error(exc)
        else:
            flash.success(request, f"Saved the macro “{macro.name}”.")
            return redirect("macro-list")
    macros = list(macro_list(account=request.account))
    for macro in macros:  # Edit and Delete only where they would be allowed
        macro.editable = can(request.membership, Capability.EDIT_MACROS, macro)
    return render(
        request,
        "conversations/macros.html",
        {
            "macros": macros,
            "editable": editable,
            "error": error,
            "values": values,
            "merge_fields": MERGE_FIELDS,
            "max_body": services.MAX_MACRO_BODY,
        },
        status=400 if error else 200,
    )


@member_page(Capability.VIEW_CONVERSATIONS, nav="conversations")
def macro_edit_page(request: HttpRequest, macro_id: int) -> HttpResponse:
    macro = access_macro(account=request.account, macro_id=macro_id)
    require_capability(request, Capability.EDIT_MACROS, macro)  # own, or anyone's
    error = None
    values = {"name": macro.name, "body": macro.body}
    if request.method == "POST":
        values = {"name": request.POST.get("name", ""), "body": request.POST.get("body", "")}
        try:
            services.macro_update(macro=macro, data=values)
        except services.ConversationInputError as exc:
            error = _field_error(exc)
        else:
            flash.success(request, f"Saved the macro “{macro.name}”.")
            return redirect("macro-list")
    return render(
        request,
        "conversations/macro_edit.html",
        {
            "macro": macro,
            "error": error,
            "values": values,
            "merge_fields": MERGE_FIELDS,
            "max_body": services.MAX_MACRO_BODY,
        },
        status=400 if error else 200,
    )


@require_POST
@member_page(Capability.VIEW_CONVERSATIONS, nav="conversations")
def macro_delete_view(request: HttpRequest, macro_id: int) -> HttpResponse:
    macro = access_macro(account=request.account, macro_id=macro_id)
    require_capability(request, Capability.EDIT_MACROS, macro)  # own, or anyone's
    name = macro.name
    services.macro_delete(macro=macro)
    flash.success(request, f"Deleted the macro “{name}”.")
    return redirect("macro-list")
