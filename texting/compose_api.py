"""Compose helpers (API.md "Compose helpers"): the counter the composer, the preview
bubble and the Tech Check share."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability
from contacts.selectors import access_contact

from .compose import compose_preview


class PreviewInputSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, max_length=1600, trim_whitespace=False)
    contact_id = serializers.IntegerField(required=False, allow_null=True)
    stop_language = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=160
    )


class PreviewSerializer(serializers.Serializer):
    characters = serializers.IntegerField()
    segments = serializers.IntegerField()
    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"])
    non_gsm_characters = serializers.ListField(child=serializers.CharField())
    rendered = serializers.CharField(allow_blank=True)


class ComposePreviewApi(AccountScopedMixin, generics.GenericAPIView):
    """Count (and with `contact_id` render, with `stop_language` append) a body. Without
    either, the body is counted exactly as given. `non_gsm_characters`: the distinct
    characters that switched it to UCS-2, first seen first."""

    capabilities = {"POST": Capability.COMPOSE}
    serializer_class = PreviewInputSerializer

    @extend_schema(request=PreviewInputSerializer, responses=PreviewSerializer)
    def post(self, request):
        data = PreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        contact_id = data.validated_data.get("contact_id")
        contact = (
            access_contact(account=self.account, contact_id=contact_id)
            if contact_id is not None
            else None
        )
        preview = compose_preview(
            body=data.validated_data["body"],
            contact=contact,
            stop_language=data.validated_data.get("stop_language"),
        )
        if preview.errors:
            raise serializers.ValidationError({"body": preview.errors})
        return Response(preview.as_dict())
