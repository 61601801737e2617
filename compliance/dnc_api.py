"""The do-not-contact list API: list and search, add, remove, CSV import, mark as spam.

Everyone in the account reads the list; admins and managers change it
(`Capability.MANAGE_DNC`) and mark contacts as spam (`Capability.MARK_SPAM`, which needs
the former). Services raise Django ValidationErrors keyed by field; they
come back as 400s naming the field, and nothing changes.
"""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability
from contacts.selectors import access_contact

from .models import DncEntry, DncReason
from .suppression import (
    access_dnc_entry,
    contact_mark_spam,
    dnc_add,
    dnc_import_csv,
    dnc_list,
    dnc_remove,
)


class DncEntrySerializer(serializers.ModelSerializer):
    added_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DncEntry
        fields = ["id", "phone", "reason", "note", "added_by", "created_at"]
        read_only_fields = fields


class DncInputSerializer(serializers.Serializer):
    phone = serializers.CharField(help_text="Any form a person types; stored as E.164.")
    reason = serializers.ChoiceField(choices=DncReason.choices, default=DncReason.MANUAL)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class DncImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV with a phone column (header in any position).")


class DncImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    reason = serializers.CharField()


class DncImportResultSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    added = serializers.IntegerField()
    already_listed = serializers.IntegerField()
    invalid = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = DncImportErrorSerializer(many=True)
    errors_omitted = serializers.IntegerField()


def _field_errors(exc: ValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.message_dict)


class DncListCreateApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_CONTACTS, "POST": Capability.MANAGE_DNC}
    serializer_class = DncEntrySerializer

    @extend_schema(
        operation_id="dnc_list",
        parameters=[OpenApiParameter("q", str, description="phone digits or words of the note")],
    )
    def get(self, request):
        entries = dnc_list(account=self.account, q=request.query_params.get("q", ""))
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(DncEntrySerializer(page, many=True).data)

    @extend_schema(
        operation_id="dnc_create",
        request=DncInputSerializer,
        responses={201: DncEntrySerializer, 200: DncEntrySerializer},
        description="Puts a phone on the do-not-contact list; its queued and scheduled "
        "messages are canceled. A phone already listed is returned as it is (200).",
    )
    def post(self, request):
        data = DncInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            entry, created = dnc_add(
                account=self.account, actor=request.user, **data.validated_data
            )
        except ValidationError as exc:
            raise _field_errors(exc) from exc
        return Response(
            DncEntrySerializer(entry).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class DncDetailApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_CONTACTS, "DELETE": Capability.MANAGE_DNC}
    serializer_class = DncEntrySerializer

    @extend_schema(operation_id="dnc_retrieve")
    def get(self, request, pk: int):
        return Response(
            DncEntrySerializer(access_dnc_entry(account=self.account, entry_id=pk)).data
        )

    @extend_schema(
        operation_id="dnc_destroy",
        responses={204: None},
        description="Takes the phone off the list (consent is not changed: an opted-out "
        "contact stays opted out).",
    )
    def delete(self, request, pk: int):
        dnc_remove(entry=access_dnc_entry(account=self.account, entry_id=pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DncImportApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"POST": Capability.MANAGE_DNC}
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = DncImportInputSerializer

    @extend_schema(
        operation_id="dnc_import",
        request={"multipart/form-data": DncImportInputSerializer},
        responses={
            200: DncImportResultSerializer,
            400: OpenApiResponse(description="No file, unreadable, too big or no phone column."),
        },
        description="Adds every phone of a CSV file (UTF-8 or Windows-1252, up to 50,000 "
        "rows) to the list, synchronously. Invalid and repeated rows are reported by row "
        "number; phones already listed are counted, not changed.",
    )
    def post(self, request):
        data = DncImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        try:
            result = dnc_import_csv(
                account=self.account, file=upload, actor=request.user, filename=upload.name
            )
        except ValidationError as exc:
            raise _field_errors(exc) from exc
        return Response(DncImportResultSerializer(result).data)


class ContactSpamApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"POST": Capability.MARK_SPAM}
    serializer_class = DncEntrySerializer

    @extend_schema(
        operation_id="contact_mark_spam",
        request=None,
        responses={201: DncEntrySerializer, 200: DncEntrySerializer},
        description="Marks the contact as spam: its phone goes on the do-not-contact list "
        "with reason `spam` (200 when it was listed already, under its first reason).",
    )
    def post(self, request, pk: int):
        contact = access_contact(account=self.account, contact_id=pk)
        entry, created = contact_mark_spam(contact=contact, actor=request.user)
        return Response(
            DncEntrySerializer(entry).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
