"""MMS media and message templates API (`/api/v1/media/`, `/api/v1/templates/`): thin
views over texting.media and texting.message_templates."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, parsers, serializers, status
from rest_framework.response import Response

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability

from . import message_templates as templates
from .media import MediaError, media_list, media_upload_file, media_url
from .models import Media, MessageTemplate


class MediaSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Signed; expires (MMS_MEDIA_URL_SECONDS).")

    class Meta:
        model = Media
        fields = [
            "id",
            "kind",
            "content_type",
            "size",
            "sha256",
            "original_name",
            "created_at",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, media: Media) -> str:
        return media_url(media)


class MediaUploadSerializer(serializers.Serializer):
    file = serializers.FileField()


class MediaListCreateApi(AccountScopedMixin, generics.GenericAPIView):
    """POST multipart `file` (PNG, JPG, GIF, MP4, MP3, vCard; type read from the bytes;
    images fitted under the MMS limit) → 201; GET lists the account's media."""

    capabilities = {"GET": Capability.COMPOSE, "POST": Capability.COMPOSE}
    serializer_class = MediaSerializer
    parser_classes = [parsers.MultiPartParser, parsers.FormParser]

    @extend_schema(operation_id="media_list")
    def get(self, request):
        page = self.paginate_queryset(media_list(account=self.account))
        return self.get_paginated_response(MediaSerializer(page, many=True).data)

    @extend_schema(request=MediaUploadSerializer, responses={201: MediaSerializer})
    def post(self, request):
        data = MediaUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        try:
            media = media_upload_file(account=self.account, actor=request.user, upload=upload)
        except MediaError as exc:
            return Response({exc.field: [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(MediaSerializer(media).data, status=status.HTTP_201_CREATED)


class MediaDetailApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.COMPOSE}
    serializer_class = MediaSerializer

    def get(self, request, pk: int):
        media = media_list(account=self.account).filter(pk=pk).first()
        if media is None:
            raise Http404
        return Response(MediaSerializer(media).data)


class TemplateSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="created_by.username", default=None, read_only=True)
    starter = serializers.SerializerMethodField()
    can_edit = serializers.SerializerMethodField()

    class Meta:
        model = MessageTemplate
        fields = [
            "id",
            "name",
            "body",
            "media_ids",
            "shared",
            "owner",
            "starter",
            "can_edit",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_starter(self, template: MessageTemplate) -> bool:
        return bool(template.starter_key)

    def get_can_edit(self, template: MessageTemplate) -> bool:
        request = self.context["request"]
        return templates.can_change(
            template=template, user=request.user, role=request.membership.role
        )


class TemplateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    media_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    shared = serializers.BooleanField(required=False)


def _template_error(exc: templates.TemplateError) -> Response:
    return Response({exc.field: [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)


class TemplateListCreateApi(AccountScopedMixin, generics.GenericAPIView):
    """Own, shared and starter templates; POST saves a new one (private unless
    `shared`)."""

    capabilities = {"GET": Capability.COMPOSE, "POST": Capability.COMPOSE}
    serializer_class = TemplateSerializer

    @extend_schema(operation_id="templates_list")
    def get(self, request):
        qs = templates.template_list(account=self.account, user=request.user).select_related(
            "created_by"
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(
            TemplateSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(request=TemplateInputSerializer, responses={201: TemplateSerializer})
    def post(self, request):
        data = TemplateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            template = templates.template_create(
                account=self.account, actor=request.user, data=data.validated_data
            )
        except templates.TemplateError as exc:
            return _template_error(exc)
        return Response(
            TemplateSerializer(template, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class TemplateDetailApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {
        "GET": Capability.COMPOSE,
        "PATCH": Capability.COMPOSE,
        "DELETE": Capability.COMPOSE,
    }
    serializer_class = TemplateSerializer

    def _get(self, request, pk: int) -> MessageTemplate:
        return templates.access_template(account=self.account, user=request.user, template_id=pk)

    def get(self, request, pk: int):
        template = self._get(request, pk)
        return Response(TemplateSerializer(template, context={"request": request}).data)

    @extend_schema(request=TemplateInputSerializer, responses=TemplateSerializer)
    def patch(self, request, pk: int):
        template = self._get(request, pk)
        data = TemplateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            template = templates.template_update(
                template=template,
                actor=request.user,
                role=self.membership.role,
                data=data.validated_data,
            )
        except templates.TemplatePermissionError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        except templates.TemplateError as exc:
            return _template_error(exc)
        return Response(TemplateSerializer(template, context={"request": request}).data)

    def delete(self, request, pk: int):
        template = self._get(request, pk)
        try:
            templates.template_delete(
                template=template, actor=request.user, role=self.membership.role
            )
        except templates.TemplatePermissionError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        return Response(status=status.HTTP_204_NO_CONTENT)
