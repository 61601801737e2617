"""GET /api/v1/audit-trail/?phone=...&format=json|csv: everything the account holds on
one phone number (texting.audit_trail). Admin and manager only: it is personal data."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability
from contacts.phones import InvalidPhone, normalize_phone

from .audit_trail import audit_trail
from .campaign_api import CSVRenderer

FORMATS = ("json", "csv")


class AuditTrailApi(AccountScopedMixin, APIView):
    capabilities = {"GET": Capability.EXPORT_AUDIT_TRAIL}
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    def perform_content_negotiation(self, request, force=False):
        # An unknown ?format= is answered 400 naming the field below, not DRF's 404.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="audit_trail",
        parameters=[
            OpenApiParameter("phone", str, required=True, description="The phone, any format."),
            OpenApiParameter("format", str, enum=list(FORMATS), description="Default json."),
        ],
        responses={
            200: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="{account, phone, generated_at, contact, consents, messages, "
                "events, dnc, audit}; with format=csv one row per item, oldest first.",
            ),
            400: OpenApiResponse(description="Missing or invalid phone, or unknown format."),
        },
        description="Everything the account holds on one phone number: consent records "
        "with provenance, messages both ways, opt-outs and opt-ins, do-not-contact "
        "entries and audit entries. Admin and manager only.",
    )
    def get(self, request):
        errors = {}
        fmt = request.query_params.get("format") or "json"
        if fmt not in FORMATS:
            errors["format"] = [f"'{fmt}' is not an export format; use json or csv."]
        raw = request.query_params.get("phone", "").strip()
        phone = None
        if not raw:
            errors["phone"] = ["Give the phone number to export (any format)."]
        else:
            try:
                phone = normalize_phone(raw)
            except InvalidPhone as exc:
                errors["phone"] = [str(exc)]
        if errors:
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        trail = audit_trail(account=self.account, phone=phone)
        filename = f"audit-trail-{phone.lstrip('+')}.{fmt}"
        if fmt == "csv":
            response = HttpResponse(trail.as_csv(), content_type="text/csv; charset=utf-8")
        else:
            response = Response(trail.as_dict())
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
