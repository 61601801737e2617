"""Compliance pages: the account's do-not-contact list (search, add, remove, CSV import)
and the contact page's "mark as spam" button."""

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from accounts.permissions import Capability
from accounts.views import member_page
from contacts.phones import InvalidPhone, normalize_phone
from contacts.selectors import access_contact

from .models import DncReason
from .suppression import (
    NOTE_MAX,
    access_dnc_entry,
    contact_mark_spam,
    dnc_add,
    dnc_import_csv,
    dnc_list,
    dnc_remove,
)

PAGE_SIZE = 50


class DncAddForm(forms.Form):
    phone = forms.CharField(label="Phone", max_length=40)
    note = forms.CharField(
        label="Note", required=False, max_length=NOTE_MAX, help_text="Why (optional)."
    )

    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from exc


class DncImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text="A column headed “phone”; up to 50,000 rows."
    )


def _page(request: HttpRequest, **extra: Any) -> HttpResponse:
    """The list page (or, for an htmx search or page flip, its table partial)."""
    q = request.GET.get("q", "").strip()
    paginator = Paginator(dnc_list(account=request.account, q=q), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "q": q,
        "page": page,
        "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "add_form": DncAddForm(),
        "import_form": DncImportForm(),
        **extra,
    }
    partial = request.htmx and not request.htmx.history_restore_request and not extra
    response = render(
        request, "compliance/_dnc_table.html" if partial else "compliance/dnc.html", context
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@member_page(Capability.VIEW_CONTACTS, nav="dnc")
def dnc_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@member_page(Capability.MANAGE_DNC, nav="dnc")
def dnc_add_page(request: HttpRequest) -> HttpResponse:
    form = DncAddForm(request.POST)
    if not form.is_valid():
        return _page(request, add_form=form)
    try:
        entry, created = dnc_add(
            account=request.account,
            phone=form.cleaned_data["phone"],
            reason=DncReason.MANUAL,
            note=form.cleaned_data["note"],
            actor=request.user,
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _page(request, add_form=form)
    if created:
        messages.success(
            request, f"{entry.phone} is on the do-not-contact list; nothing will be sent to it."
        )
    else:
        messages.info(
            request, f"{entry.phone} was already on the list ({entry.get_reason_display()})."
        )
    return redirect("dnc-list")


@require_POST
@member_page(Capability.MANAGE_DNC, nav="dnc")
def dnc_remove_page(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = access_dnc_entry(account=request.account, entry_id=entry_id)
    dnc_remove(entry=entry, actor=request.user)
    messages.success(request, f"{entry.phone} is off the do-not-contact list.")
    return redirect("dnc-list")


@require_POST
@member_page(Capability.MANAGE_DNC, nav="dnc")
def dnc_import_page(request: HttpRequest) -> HttpResponse:
    form = DncImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, import_form=form)
    upload = form.cleaned_data["file"]
    try:
        result = dnc_import_csv(
            account=request.account, file=upload, actor=request.user, filename=upload.name
        )
    except ValidationError as exc:
        form.add_error("file", exc.message_dict.get("file", exc.messages))
        return _page(request, import_form=form)
    # The result is shown on the page itself, row by row (no redirect to lose it).
    return _page(request, import_result=result, import_name=upload.name)


@require_POST
@member_page(Capability.MARK_SPAM, nav="contacts")
def contact_spam_page(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = access_contact(account=request.account, contact_id=contact_id)
    entry, created = contact_mark_spam(contact=contact, actor=request.user)
    if created:
        messages.success(request, f"Marked as spam: {entry.phone} is on the do-not-contact list.")
    else:
        messages.info(request, f"{entry.phone} was already on the do-not-contact list.")
    return redirect("contact-detail", contact_id=contact.pk)
