"""Tribe pages (account level): the list with search, a Tribe's counts and members,
create and edit with the filter builder, delete; and the builder's two htmx endpoints
(preview counts, save as Tribe), which the campaign Recipients tab's builder uses too.

Here, not in `contacts`, for the same reason as the API (`compliance.tribe_api`): the
SMS-eligible count needs the consent rules.
"""

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from accounts.permissions import Capability, can
from accounts.views import member_page, require_capability
from contacts import filters, tribes
from contacts.filters import FilterError
from contacts.models import Tribe, TribeKind, TribeMode

from .tribes import filter_counts, tribe_counts

MEMBERS_SHOWN = 50
LIST_PAGE_SIZE = 100


def builder_context(*, filter: Any = None, mode: str = TribeMode.CROSS, **extra) -> dict:
    """What the filter builder partial (`tribes/_builder.html`) needs: the fields, the
    ops each takes, the filter to start from."""
    fields = [(name, name.replace("_", " ").capitalize()) for name in filters.field_names()]
    ops = {name: [op for op in filters.OPS if op in filters.ops_for(name)] for name, _ in fields}
    ops["custom"] = list(filters.OPS)
    return {
        "builder_fields": fields,
        "builder_ops_json": json.dumps(ops),
        "builder_filter_json": json.dumps(filter or {"all": []}),
        "builder_mode": mode,
        "tribe_modes": TribeMode.choices,
        **extra,
    }


def posted_filter(request: HttpRequest) -> tuple[Any, str]:
    """(filter, error) from the builder's `filter` field (JSON text)."""
    raw = request.POST.get("filter", "").strip()
    if not raw:
        return None, "filter: Add at least one condition."
    try:
        return json.loads(raw), ""
    except ValueError:
        return None, "filter: Not valid JSON."


@member_page(Capability.VIEW_CONTACTS, nav="tribes")
def tribe_list_page(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    found = tribes.tribe_list(account=request.account, q=q)[:LIST_PAGE_SIZE]
    context = {"q": q, "tribes": found}
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(request, "tribes/_list.html" if partial else "tribes/list.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@member_page(Capability.VIEW_CONTACTS, nav="tribes")
def tribe_detail_page(request: HttpRequest, tribe_id: int) -> HttpResponse:
    tribe = tribes.access_tribe(account=request.account, tribe_id=tribe_id)
    context: dict[str, Any] = {"tribe": tribe, "filter_json": json.dumps(tribe.filter, indent=2)}
    try:
        context["counts"] = tribe_counts(tribe=tribe)
        context["members"] = tribes.tribe_members(tribe=tribe).order_by(
            "last_name", "first_name", "id"
        )[:MEMBERS_SHOWN]
    except FilterError as exc:
        context["filter_problem"] = str(exc)
    return render(request, "tribes/detail.html", context)


def _tribe_form(request: HttpRequest, tribe: Tribe | None) -> HttpResponse:
    require_capability(request, Capability.EDIT_CONTACTS)
    values = {
        "name": tribe.name if tribe else "",
        "mode": tribe.mode if tribe else TribeMode.CROSS,
        "filter": tribe.filter if tribe else None,
    }
    error = ""
    if request.method == "POST":
        values["name"] = request.POST.get("name", "")
        values["mode"] = request.POST.get("mode", "")
        posted, error = posted_filter(request)
        values["filter"] = posted if posted is not None else values["filter"]
        if not error:
            try:
                if tribe is None:
                    tribe = tribes.tribe_create(
                        account=request.account, actor=request.user, **values
                    )
                    messages.success(request, f"Created the Tribe “{tribe.name}”.")
                else:
                    data = (
                        values
                        if tribe.kind == TribeKind.FILTER
                        else {k: values[k] for k in ("name", "mode")}
                    )
                    tribe = tribes.tribe_update(tribe=tribe, data=data)
                    messages.success(request, f"Saved the Tribe “{tribe.name}”.")
                return redirect("tribe-detail", tribe_id=tribe.pk)
            except tribes.TribeError as exc:
                error = f"{exc.field}: {exc.message}"
    context = builder_context(
        filter=values["filter"],
        mode=values["mode"],
        tribe=tribe,
        values=values,
        error=error,
        is_list=bool(tribe and tribe.kind == TribeKind.LIST),
    )
    return render(request, "tribes/form.html", context, status=400 if error else 200)


@member_page(Capability.VIEW_CONTACTS, nav="tribes")
def tribe_new_page(request: HttpRequest) -> HttpResponse:
    return _tribe_form(request, None)


@member_page(Capability.VIEW_CONTACTS, nav="tribes")
def tribe_edit_page(request: HttpRequest, tribe_id: int) -> HttpResponse:
    tribe = tribes.access_tribe(account=request.account, tribe_id=tribe_id)
    return _tribe_form(request, tribe)


@require_POST
@member_page(Capability.EDIT_CONTACTS, nav="tribes")
def tribe_delete_page(request: HttpRequest, tribe_id: int) -> HttpResponse:
    tribe = tribes.access_tribe(account=request.account, tribe_id=tribe_id)
    name = tribe.name
    try:
        tribes.tribe_delete(tribe=tribe)
    except tribes.TribeError as exc:
        messages.error(request, exc.message)
        return redirect("tribe-detail", tribe_id=tribe_id)
    messages.success(request, f"Deleted the Tribe “{name}”.")
    return redirect("tribe-list")


@require_POST
@member_page(Capability.VIEW_CONTACTS)
def tribe_filter_preview(request: HttpRequest) -> HttpResponse:
    """The builder's "Preview": members and SMS-eligible count of the filter as it
    stands, under `mode` (the campaign's, on the Recipients tab)."""
    filter, error = posted_filter(request)
    mode = request.POST.get("mode", TribeMode.CROSS)
    counts = None
    if not error:
        try:
            counts = filter_counts(account=request.account, filter=filter, mode=mode)
        except FilterError as exc:
            error = str(exc)
    return render(
        request,
        "tribes/_preview.html",
        {"counts": counts, "error": error, "mode": mode},
        status=200,  # htmx swaps only 2xx; the partial says what is wrong
    )


@require_POST
@member_page(Capability.VIEW_CONTACTS)
def tribe_save_from_builder(request: HttpRequest) -> HttpResponse:
    """The builder's "Save as Tribe" (htmx): a saved-filter Tribe from the filter as it
    stands."""
    if not can(request.membership.role, Capability.EDIT_CONTACTS):
        return render(
            request, "tribes/_saved.html", {"error": "Your role may not save Tribes."}, status=200
        )
    filter, error = posted_filter(request)
    tribe = None
    if not error:
        try:
            tribe = tribes.tribe_create(
                account=request.account,
                actor=request.user,
                name=request.POST.get("name", ""),
                mode=request.POST.get("mode", TribeMode.CROSS),
                filter=filter,
            )
        except tribes.TribeError as exc:
            error = f"{exc.field}: {exc.message}"
    context = {
        "tribe": tribe,
        "error": error,
        "url": reverse("tribe-detail", args=[tribe.pk]) if tribe else "",
    }
    return render(request, "tribes/_saved.html", context, status=200)
