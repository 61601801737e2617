"""The contact import API (API.md): `POST /api/v1/contacts/import/` (multipart `file`,
`pool`, optional `tribe_name`) answers 202 `{id}` and the import runs in the background;
`GET /api/v1/imports/{id}/` is its progress and the rows at fault;
`GET /api/v1/imports/{id}/errors.csv` every row at fault.

Whoever may edit contacts may import them (`Capability.EDIT_CONTACTS`); everyone in the
account may follow an import. Another account's import is a 404."""

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability

from . import imports
from .models import ContactImport, Pool


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV with a phone column (header in any position, columns in any order); "
        "up to 50,000 rows, 200 columns, 64 KB a row and 20 MB."
    )
    pool = serializers.ChoiceField(choices=Pool.choices, default=Pool.CONTACT)
    tribe_name = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="Add the imported contacts to this list Tribe (created if new).",
    )


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    reason = serializers.CharField()


class ImportSerializer(serializers.ModelSerializer):
    errors = serializers.SerializerMethodField()
    errors_omitted = serializers.SerializerMethodField()
    error_report_url = serializers.SerializerMethodField()
    tribe_id = serializers.IntegerField(allow_null=True, read_only=True)

    class Meta:
        model = ContactImport
        fields = [
            "id",
            "status",
            "filename",
            "pool",
            "tribe_id",
            "total",
            "processed",
            "created",
            "updated",
            "invalid",
            "duplicates",
            "errors",
            "errors_omitted",
            "error_report_url",
            "failure",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ImportErrorSerializer(many=True))
    def get_errors(self, imp: ContactImport) -> list[dict]:
        return imports.import_errors_listed(imp)

    @extend_schema_field(serializers.IntegerField())
    def get_errors_omitted(self, imp: ContactImport) -> int:
        return max(len(imp.errors) - imports.ERRORS_LISTED, 0)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error_report_url(self, imp: ContactImport) -> str | None:
        if not imp.errors:
            return None
        return reverse("api-import-errors", args=[imp.pk])


def _field_errors(exc: ValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.message_dict)


class ContactImportApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"POST": Capability.EDIT_CONTACTS}
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = ImportInputSerializer

    @extend_schema(
        operation_id="contacts_import",
        request={"multipart/form-data": ImportInputSerializer},
        responses={
            202: inline_serializer("ImportAccepted", {"id": serializers.IntegerField()}),
            400: OpenApiResponse(
                description="No file, unreadable, over 20 MB or 50,000 rows, a row over 200 "
                "columns or 64 KB (named by its number), no phone column."
            ),
        },
        description="Queues a CSV import; follow it at GET /api/v1/imports/{id}/. Rows are "
        "matched to contacts by phone (updated), the rest become new contacts with no "
        "consent; invalid and repeated phones are reported by row.",
    )
    def post(self, request):
        data = ImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > imports.IMPORT_MAX_BYTES:
            raise serializers.ValidationError({"file": "The file is larger than 20 MB; split it."})
        try:
            imp = imports.import_create(
                account=self.account,
                actor=request.user,
                data=upload.read(),
                filename=upload.name,
                pool=data.validated_data["pool"],
                tribe_name=data.validated_data["tribe_name"],
            )
        except ValidationError as exc:
            raise _field_errors(exc) from exc
        return Response({"id": imp.pk}, status=status.HTTP_202_ACCEPTED)


class ImportDetailApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_CONTACTS}
    serializer_class = ImportSerializer

    @extend_schema(operation_id="imports_retrieve")
    def get(self, request, pk: int):
        imp = imports.access_import(account=self.account, import_id=pk)
        return Response(ImportSerializer(imp).data)


class ImportErrorReportApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_CONTACTS}

    @extend_schema(
        operation_id="imports_error_report",
        responses={(200, "text/csv"): OpenApiResponse(description="row, phone, reason")},
    )
    def get(self, request, pk: int):
        imp = imports.access_import(account=self.account, import_id=pk)
        return error_report_response(imp)


def error_report_response(imp: ContactImport) -> HttpResponse:
    response = HttpResponse(imports.import_error_report(imp), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="import-{imp.pk}-errors.csv"'
    return response
