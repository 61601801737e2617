"""API plumbing shared by every app: account scoping, capability checks, paging, errors."""

import logging

from django.db import DataError
from django.http import Http404
from rest_framework import exceptions, pagination, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .permissions import Capability, can, refusal
from .selectors import AccountResolutionError, membership_for_request

SESSION_ACCOUNT_KEY = "account_slug"


class Pagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class AccountChoiceRequired(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "account_required"


def resolve_membership(request: Request):
    """Attach `request.membership` / `request.account` (cached per request)."""
    if getattr(request, "membership", None) is not None:
        return request.membership
    slug = request.headers.get("X-Account") or request.session.get(SESSION_ACCOUNT_KEY)
    try:
        membership = membership_for_request(user=request.user, slug=slug)
    except AccountResolutionError as exc:
        if exc.status == 400:
            raise AccountChoiceRequired(exc.message) from exc
        raise exceptions.PermissionDenied(exc.message) from exc
    request.membership = membership
    request.account = membership.account
    return membership


class HasCapability(permissions.BasePermission):
    """Checks the role matrix for the capability the view declares for this request.

    Views set `capabilities = {"GET": Capability.X, "POST": Capability.Y, ...}` (keys are
    HTTP methods or viewset action names; actions win).
    """

    def has_permission(self, request: Request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        membership = resolve_membership(request)
        needed = required_capability(view, request)
        if not can(membership, needed):
            raise exceptions.PermissionDenied(refusal(membership, needed))
        return True


class MethodNotDeclared(exceptions.PermissionDenied):
    default_detail = "This method is not available here."


def required_capability(view, request: Request) -> Capability:
    """The capability the view declares for this request. Deny by default: a method the
    view does not list is refused (HEAD and OPTIONS read like GET)."""
    caps = getattr(view, "capabilities", {})
    action = getattr(view, "action", None)
    if action and action in caps:
        return caps[action]
    method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
    needed = caps.get(method, caps.get("*"))
    if needed is None:
        raise MethodNotDeclared()
    return needed


class AccountScopedMixin:
    """Base for every account-scoped API view: authenticated, member, role-checked."""

    permission_classes = [permissions.IsAuthenticated, HasCapability]
    capabilities: dict[str, Capability] = {}

    @property
    def account(self):
        return self.request.account

    @property
    def membership(self):
        return self.request.membership


log = logging.getLogger(__name__)


def exception_handler(exc, context):
    # Django's Http404 for another tenant's id reads the same as a missing one.
    if isinstance(exc, Http404):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, DataError):
        # PostgreSQL refused a value (class 22: out of range, not representable). The
        # parsers and serializers check first and name the field; this is the net under
        # them, so a check that is missing costs a vague 400, never a 500. Logged so
        # the missing check gets written.
        log.warning("API: the database refused a value; answered 400", exc_info=exc)
        return Response(
            {"detail": "A value in the request is out of range or cannot be stored."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return drf_exception_handler(exc, context)
