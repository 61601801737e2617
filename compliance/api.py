"""Consent API (API.md "Contacts, consent, history"). The DNC list is in dnc_api.py."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability
from contacts.selectors import access_contact

from .consent import ConsentBlocked, ConsentError, consent_record, consent_trail
from .serializers import ConsentCreatedSerializer, ConsentInputSerializer, ConsentRecordSerializer


def _field_errors(exc: ConsentError) -> dict[str, list[str]]:
    return {field: [message] for field, message in exc.errors.items()}


class ContactConsentsApi(AccountScopedMixin, generics.GenericAPIView):
    # Recording consent changes who may be texted: the roles that edit contacts.
    capabilities = {"GET": Capability.VIEW_CONTACTS, "POST": Capability.EDIT_CONTACTS}
    serializer_class = ConsentRecordSerializer

    @extend_schema(
        operation_id="contact_consents_list",
        responses=ConsentRecordSerializer(many=True),
        description="The contact's consent provenance trail, newest first.",
    )
    def get(self, request, pk: int):
        contact = access_contact(account=self.account, contact_id=pk)
        page = self.paginate_queryset(consent_trail(contact=contact))
        return self.get_paginated_response(ConsentRecordSerializer(page, many=True).data)

    @extend_schema(
        operation_id="contact_consents_create",
        request=ConsentInputSerializer,
        responses={
            201: ConsentCreatedSerializer,
            400: OpenApiResponse(description="Field errors, keyed by field."),
            422: OpenApiResponse(
                description="The contact opted out and this record may not override the STOP "
                "(captured before it, no source or language, or a list import)."
            ),
        },
        description="Records consent. Single opt-in → opted_in; double → pending until the "
        "contact replies YES. An opted-out contact is opted back in only by consent captured "
        "after the opt-out, with its source and language.",
    )
    def post(self, request, pk: int):
        contact = access_contact(account=self.account, contact_id=pk)
        data = ConsentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            record = consent_record(contact=contact, actor=request.user, **data.validated_data)
        except ConsentBlocked as exc:
            return Response(_field_errors(exc), status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        except ConsentError as exc:
            return Response(_field_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        record.sms_status = contact.sms_status
        return Response(ConsentCreatedSerializer(record).data, status=status.HTTP_201_CREATED)
