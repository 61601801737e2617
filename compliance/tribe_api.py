"""The Tribe API (API.md "Tribes"): list (search `q`, `mode`), create, read with
`member_count` and `sms_eligible_count`, change, delete, members.

It lives in `compliance`, not `contacts`, because the SMS-eligible count needs the
consent rules (`compliance.tribes`), and `contacts` may not import `compliance`.
Everyone in the account reads Tribes (`VIEW_CONTACTS`); those who edit contacts
(admins, managers) create, change and delete them (`EDIT_CONTACTS`).
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability
from contacts import tribes
from contacts.models import Tribe, TribeMode
from contacts.serializers import ContactSerializer

from .tribes import tribe_counts


class TribeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tribe
        fields = ["id", "name", "mode", "kind", "filter", "created_at", "updated_at"]
        read_only_fields = fields


class TribeDetailSerializer(TribeSerializer):
    member_count = serializers.IntegerField()
    sms_eligible_count = serializers.IntegerField()

    class Meta(TribeSerializer.Meta):
        fields = [*TribeSerializer.Meta.fields, "member_count", "sms_eligible_count"]
        read_only_fields = fields


class TribeInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    mode = serializers.ChoiceField(choices=TribeMode.choices, default=TribeMode.CROSS)
    filter = serializers.JSONField(
        help_text='{"all"|"any": [{"field", "op", "value"} | filter, ...]}'
    )


def _detail(tribe: Tribe) -> dict:
    counts = tribe_counts(tribe=tribe)
    data = TribeSerializer(tribe).data
    data["member_count"] = counts.member_count
    data["sms_eligible_count"] = counts.sms_eligible_count
    return data


def _tribe_error(exc: tribes.TribeError) -> Response:
    return Response({exc.field: [exc.message]}, status=status.HTTP_400_BAD_REQUEST)


class TribeListCreateApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_CONTACTS, "POST": Capability.EDIT_CONTACTS}
    serializer_class = TribeSerializer

    @extend_schema(
        operation_id="tribes_list",
        parameters=[
            OpenApiParameter("q", str, description="part of the name"),
            OpenApiParameter("mode", str, description="relationship, campaign or cross"),
        ],
    )
    def get(self, request):
        mode = request.query_params.get("mode", "")
        if mode and mode not in TribeMode.values:
            return Response(
                {"mode": [f"Give one of: {', '.join(TribeMode.values)}."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        found = tribes.tribe_list(
            account=self.account,
            q=request.query_params.get("q", ""),
            modes=[mode] if mode else None,
        )
        page = self.paginate_queryset(found)
        return self.get_paginated_response(TribeSerializer(page, many=True).data)

    @extend_schema(request=TribeInputSerializer, responses={201: TribeDetailSerializer})
    def post(self, request):
        data = TribeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            tribe = tribes.tribe_create(
                account=self.account, actor=request.user, **data.validated_data
            )
        except tribes.TribeError as exc:
            return _tribe_error(exc)
        return Response(_detail(tribe), status=status.HTTP_201_CREATED)


class TribeDetailApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {
        "GET": Capability.VIEW_CONTACTS,
        "PATCH": Capability.EDIT_CONTACTS,
        "DELETE": Capability.EDIT_CONTACTS,
    }
    serializer_class = TribeDetailSerializer

    def get(self, request, pk: int):
        return Response(_detail(tribes.access_tribe(account=self.account, tribe_id=pk)))

    @extend_schema(request=TribeInputSerializer, responses=TribeDetailSerializer)
    def patch(self, request, pk: int):
        tribe = tribes.access_tribe(account=self.account, tribe_id=pk)
        data = TribeInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            tribe = tribes.tribe_update(tribe=tribe, data=data.validated_data)
        except tribes.TribeError as exc:
            return _tribe_error(exc)
        return Response(_detail(tribe))

    def delete(self, request, pk: int):
        tribe = tribes.access_tribe(account=self.account, tribe_id=pk)
        try:
            tribes.tribe_delete(tribe=tribe)
        except tribes.TribeError as exc:
            return Response({"detail": exc.message}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TribeMembersApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_CONTACTS}
    serializer_class = ContactSerializer

    def get(self, request, pk: int):
        tribe = tribes.access_tribe(account=self.account, tribe_id=pk)
        members = tribes.tribe_members(tribe=tribe).order_by("last_name", "first_name", "id")
        page = self.paginate_queryset(members)
        return self.get_paginated_response(ContactSerializer(page, many=True).data)
