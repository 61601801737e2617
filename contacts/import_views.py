"""Contact import pages: upload a CSV file (or paste numbers) from the Contacts page, and
follow the import with an htmx-polled progress bar that ends in the counts and the
error report."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from accounts.permissions import Capability
from accounts.views import member_page

from . import imports
from .import_api import error_report_response
from .models import ImportStatus, Pool


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="A column headed “phone” anywhere in the header row; up to 50,000 rows, "
        "200 columns, 20 MB.",
    )
    pool = forms.ChoiceField(label="Pool for new contacts", choices=Pool.choices)
    tribe_name = forms.CharField(
        label="Add them to a list (optional)",
        required=False,
        max_length=200,
        help_text="A list Tribe of this name is created, or added to if it exists.",
    )


class PasteForm(forms.Form):
    numbers = forms.CharField(
        label="Phone numbers",
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="One per line, or separated by commas; up to 10,000.",
    )
    pool = forms.ChoiceField(label="Pool for new contacts", choices=Pool.choices)
    tribe_name = forms.CharField(
        label="Add them to a list (optional)", required=False, max_length=200
    )


def add_errors(form: forms.Form, exc: ValidationError) -> None:
    """A service's field errors onto the form (a field it lacks goes to the top)."""
    for name, errors in exc.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


@member_page(Capability.EDIT_CONTACTS, nav="contacts")
def import_page(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    paste_form = PasteForm(prefix="paste")
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > imports.IMPORT_MAX_BYTES:
                raise ValidationError({"file": "The file is larger than 20 MB; split it."})
            imp = imports.import_create(
                account=request.account,
                actor=request.user,
                data=upload.read(),
                filename=upload.name,
                pool=form.cleaned_data["pool"],
                tribe_name=form.cleaned_data["tribe_name"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            return redirect("contact-import-detail", import_id=imp.pk)
    context = {
        "form": form,
        "paste_form": paste_form,
        "recent": imports.recent_imports(account=request.account),
    }
    return render(request, "contacts/import.html", context, status=400 if form.errors else 200)


@member_page(Capability.EDIT_CONTACTS, nav="contacts")
def paste_page(request: HttpRequest) -> HttpResponse:
    paste_form = PasteForm(request.POST or None, prefix="paste")
    if request.method == "POST" and paste_form.is_valid():
        try:
            imp = imports.paste_import(
                account=request.account,
                actor=request.user,
                text=paste_form.cleaned_data["numbers"],
                pool=paste_form.cleaned_data["pool"],
                tribe_name=paste_form.cleaned_data["tribe_name"],
            )
        except ValidationError as exc:
            add_errors(paste_form, exc)
        else:
            messages.success(request, f"Imported {imp.total:,} pasted numbers.")
            return redirect("contact-import-detail", import_id=imp.pk)
    context = {
        "form": ImportForm(),
        "paste_form": paste_form,
        "recent": imports.recent_imports(account=request.account),
    }
    return render(
        request, "contacts/import.html", context, status=400 if paste_form.errors else 200
    )


def progress_context(imp) -> dict:
    return {
        "imp": imp,
        "percent": imports.import_percent(imp),
        "live": imp.status in (ImportStatus.PENDING, ImportStatus.RUNNING),
        "errors_listed": imports.import_errors_listed(imp)[:20],
    }


@require_GET
@member_page(Capability.VIEW_CONTACTS, nav="contacts")
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    """The import's progress; htmx polls the same partial until the import ends."""
    imp = imports.access_import(account=request.account, import_id=import_id)
    context = progress_context(imp)
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "contacts/_import_progress.html", context)
    return render(request, "contacts/import_detail.html", context)


@require_GET
@member_page(Capability.VIEW_CONTACTS, nav="contacts")
def import_error_report(request: HttpRequest, import_id: int) -> HttpResponse:
    imp = imports.access_import(account=request.account, import_id=import_id)
    return error_report_response(imp)
