"""Contact pages: the searchable list (htmx partial), detail with history, add/edit/delete."""

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers

from accounts.permissions import Capability
from accounts.views import member_page, require_capability

from .forms import ContactForm
from .models import EngagementEvent, SmsStatus
from .selectors import access_contact, contact_history, contact_list
from .services import contact_delete, contact_update, contact_upsert

PAGE_SIZE = 50


def event_summary(event: EngagementEvent) -> str:
    """One line for an engagement event: the message text when there is one."""
    data = event.data or {}
    for key in ("text", "body", "message", "url", "error", "reason"):
        if data.get(key):
            return str(data[key])
    return ", ".join(f"{k}: {v}" for k, v in data.items())


@member_page(Capability.VIEW_CONTACTS, nav="contacts")
def contact_list_page(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    paginator = Paginator(contact_list(account=request.account, q=q), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "q": q,
        "page": page,
        "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "SmsStatus": SmsStatus,
    }
    # The table partial renders both the first load and every htmx search or page flip.
    # A history restore (back button) needs the whole page again.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "contacts/_table.html" if partial else "contacts/list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@member_page(Capability.VIEW_CONTACTS, nav="contacts")
def contact_detail(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = access_contact(account=request.account, contact_id=contact_id)
    events = [(event, event_summary(event)) for event in contact_history(contact=contact)[:200]]
    return render(request, "contacts/detail.html", {"contact": contact, "events": events})


def _phone_taken(request: HttpRequest, phone: str, *, exclude_id: int | None = None) -> bool:
    others = contact_list(account=request.account, phone=phone)
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    return others.exists()


@member_page(Capability.EDIT_CONTACTS, nav="contacts")
def contact_add(request: HttpRequest) -> HttpResponse:
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Blank fields are left out so adding a phone that already exists never erases
        # what that contact's record already holds.
        data = {k: v for k, v in form.cleaned_data.items() if v}
        phone = data.pop("phone")
        if "pool" not in form.changed_data:
            # The pool always has a value (its default); only a deliberate choice may
            # move an existing voter-file record into the contact pool or back.
            data.pop("pool", None)
        contact, created = contact_upsert(account=request.account, phone=phone, data=data)
        if created:
            messages.success(request, f"Added {contact.display_name} ({contact.phone}).")
        else:
            messages.info(
                request,
                f"A contact with {contact.phone} already existed; it was updated with these details.",
            )
        return redirect("contact-detail", contact_id=contact.pk)
    return render(request, "contacts/form.html", {"form": form, "contact": None})


@member_page(Capability.EDIT_CONTACTS, nav="contacts")
def contact_edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = access_contact(account=request.account, contact_id=contact_id)
    if request.method == "POST":
        form = ContactForm(request.POST)
        if form.is_valid():
            if _phone_taken(request, form.cleaned_data["phone"], exclude_id=contact.pk):
                form.add_error("phone", "Another contact already has this phone number.")
            else:
                contact_update(contact=contact, data=form.cleaned_data)
                messages.success(request, "Contact saved.")
                return redirect("contact-detail", contact_id=contact.pk)
    else:
        form = ContactForm(initial=ContactForm.initial_for(contact))
    return render(request, "contacts/form.html", {"form": form, "contact": contact})


@member_page(Capability.VIEW_CONTACTS, nav="contacts")
def contact_delete_page(request: HttpRequest, contact_id: int) -> HttpResponse:
    require_capability(request, Capability.EDIT_CONTACTS)
    contact = access_contact(account=request.account, contact_id=contact_id)
    if request.method == "POST":
        name = contact.display_name
        contact_delete(contact=contact)
        messages.success(request, f"Deleted {name}.")
        return redirect("contact-list")
    return render(request, "contacts/confirm_delete.html", {"contact": contact})
