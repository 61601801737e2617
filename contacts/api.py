from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability

from . import selectors, services, tribes
from .serializers import ContactInputSerializer, ContactSerializer, EngagementEventSerializer


class ContactListCreateApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_CONTACTS, "POST": Capability.EDIT_CONTACTS}
    serializer_class = ContactSerializer

    def get_queryset(self):
        contacts = selectors.contact_list(
            account=self.account,
            phone=self.request.query_params.get("phone", ""),
            q=self.request.query_params.get("q", ""),
        )
        tribe_id = self.request.query_params.get("tribe", "")
        if tribe_id:
            if not tribe_id.isdigit():
                raise ValidationError({"tribe": ["Give a Tribe id."]})
            tribe = tribes.access_tribe(account=self.account, tribe_id=int(tribe_id))
            contacts = contacts.filter(tribes.tribe_condition(tribe=tribe))
        return contacts

    @extend_schema(
        operation_id="contacts_list",
        parameters=[
            OpenApiParameter("phone", str, description="exact phone, any format"),
            OpenApiParameter("q", str, description="name, city or phone digits"),
            OpenApiParameter("tribe", int, description="members of this Tribe"),
        ],
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ContactSerializer(page, many=True).data)

    @extend_schema(
        request=ContactInputSerializer,
        responses={201: ContactSerializer, 200: ContactSerializer},
        description="Creates a contact; the same phone again updates the existing one (200).",
    )
    def post(self, request):
        data = ContactInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        phone = fields.pop("phone")
        contact, created = services.contact_upsert(account=self.account, phone=phone, data=fields)
        return Response(
            ContactSerializer(contact).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ContactDetailApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {
        "GET": Capability.VIEW_CONTACTS,
        "PATCH": Capability.EDIT_CONTACTS,
        "DELETE": Capability.EDIT_CONTACTS,
    }
    serializer_class = ContactSerializer

    def get(self, request, pk: int):
        contact = selectors.access_contact(account=self.account, contact_id=pk)
        return Response(ContactSerializer(contact).data)

    @extend_schema(request=ContactInputSerializer, responses=ContactSerializer)
    def patch(self, request, pk: int):
        contact = selectors.access_contact(account=self.account, contact_id=pk)
        data = ContactInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if "phone" in fields and fields["phone"] != contact.phone:
            clash = selectors.contact_list(account=self.account, phone=fields["phone"]).exclude(
                pk=contact.pk
            )
            if clash.exists():
                return Response(
                    {"phone": [f"Another contact already has {fields['phone']}."]},
                    status=status.HTTP_400_BAD_REQUEST,
                )
        contact = services.contact_update(contact=contact, data=fields)
        return Response(ContactSerializer(contact).data)

    def delete(self, request, pk: int):
        contact = selectors.access_contact(account=self.account, contact_id=pk)
        services.contact_delete(contact=contact)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactHistoryApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_CONTACTS}
    serializer_class = EngagementEventSerializer

    def get(self, request, pk: int):
        contact = selectors.access_contact(account=self.account, contact_id=pk)
        page = self.paginate_queryset(selectors.contact_history(contact=contact))
        return self.get_paginated_response(EngagementEventSerializer(page, many=True).data)
