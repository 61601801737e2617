"""Conversations API (API.md "Conversations") and macros.

Scope (accounts.permissions.ConversationScope): a thread outside what the member may
see is a 404, like another account's; a viewer reads but may not reply or change (403).
The role checks are the pages' own (accounts.permissions.can): assigning and marking
spam are the service's `update_requires`; a macro is changed or deleted by its author,
or by a role that may change anyone's.
"""

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability, require
from texting.models import Message

from . import selectors, services
from .models import Conversation, ConversationStatus, Macro


class ConversationSerializer(serializers.ModelSerializer):
    contact_name = serializers.SerializerMethodField()
    label_display = serializers.CharField(source="get_label_display", read_only=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "contact_id",
            "contact_name",
            "phone",
            "our_number",
            "campaign_id",
            "label",
            "label_display",
            "status",
            "assigned_to",
            "snooze_until",
            "tags",
            "unread",
            "last_message_at",
            "last_inbound_at",
            "last_preview",
            "created_at",
        ]
        read_only_fields = fields

    def get_contact_name(self, obj: Conversation) -> str:
        contact = obj.contact
        return " ".join(p for p in (contact.first_name, contact.last_name) if p)


class TribeRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CampaignRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ConversationDetailSerializer(ConversationSerializer):
    tribes = serializers.SerializerMethodField()
    campaign = serializers.SerializerMethodField()
    notice = serializers.SerializerMethodField()

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "tribes", "campaign", "notice"]
        read_only_fields = fields

    @extend_schema_field(TribeRefSerializer(many=True))
    def get_tribes(self, obj: Conversation) -> list[dict]:
        return [
            {"id": t.pk, "name": t.name} for t in selectors.conversation_tribes(conversation=obj)
        ]

    @extend_schema_field(CampaignRefSerializer(allow_null=True))
    def get_campaign(self, obj: Conversation) -> dict | None:
        campaigns = selectors.conversation_campaigns(account=obj.account, ids=[obj.campaign_id])
        campaign = campaigns.get(obj.campaign_id)
        return {"id": campaign.pk, "name": campaign.name} if campaign else None

    def get_notice(self, obj: Conversation) -> str:
        if obj.label == "unattached":
            return (
                "This number is on no active campaign: the reply is not part of anything running."
            )
        if obj.label == "unknown_sender":
            return "This phone was not in your contacts; a phone-only contact was created."
        return ""


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "direction",
            "from_number",
            "to_number",
            "body",
            "status",
            "kind",
            "campaign_id",
            "segments",
            "media_ids",
            "media",
            "error_reason",
            "created_at",
            "sent_at",
            "delivered_at",
            "failed_at",
        ]
        read_only_fields = fields


class ReplyInputSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, trim_whitespace=True)
    media_ids = serializers.ListField(child=serializers.IntegerField(), required=False)


class ConversationUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ConversationStatus.choices, required=False)
    assigned_to = serializers.IntegerField(allow_null=True, required=False)
    snooze_until = serializers.DateTimeField(allow_null=True, required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


class MacroSerializer(serializers.ModelSerializer):
    class Meta:
        model = Macro
        fields = ["id", "name", "body", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]


class ConversationIdsField(serializers.ListField):
    """Conversation ids, read by `services.macro_send_ids`: a list longer than
    settings.MACRO_SEND_MAX_CONVERSATIONS is a 400 naming the cap before any item is
    validated (DRF's ListField validates every item before its max_length)."""

    child = serializers.IntegerField()

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        try:
            return services.macro_send_ids(data)
        except services.ConversationInputError as exc:
            raise ValidationError(exc.message) from exc


class MacroSendInputSerializer(serializers.Serializer):
    conversation_ids = ConversationIdsField(
        help_text="At most MACRO_SEND_MAX_CONVERSATIONS (500) ids; more is a 400."
    )


class MacroOutcomeSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["queued", "refused"])
    reason = serializers.CharField()
    message_id = serializers.IntegerField(allow_null=True)
    detail = serializers.CharField()


def _field_error(exc) -> Response:
    return Response({exc.field: [exc.message]}, status=status.HTTP_400_BAD_REQUEST)


class ConversationScopedMixin(AccountScopedMixin):
    def get_conversation(self, pk: int) -> Conversation:
        return selectors.access_conversation(
            account=self.account, membership=self.membership, conversation_id=pk
        )


class ConversationListApi(ConversationScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_CONVERSATIONS}
    serializer_class = ConversationSerializer

    @extend_schema(
        operation_id="conversations_list",
        parameters=[
            OpenApiParameter("status", str, enum=ConversationStatus.values),
            OpenApiParameter("unread", bool, description="only with unread messages"),
            OpenApiParameter("assigned", str, description="me, none, or a user id"),
            OpenApiParameter("campaign", int, description="started by this campaign"),
            OpenApiParameter("since", str, description="last reply on/after (date or time)"),
            OpenApiParameter("until", str, description="last reply on/before (date or time)"),
            OpenApiParameter("tribe", int, description="the contact is in this Tribe"),
            OpenApiParameter("q", str, description="words in the thread's messages"),
        ],
    )
    def get(self, request):
        try:
            filters = selectors.filters_from_params(request.query_params)
            conversations = selectors.conversation_list(
                account=self.account, membership=self.membership, filters=filters
            )
        except selectors.FilterError as exc:
            raise ValidationError({exc.field: [exc.message]}) from exc
        page = self.paginate_queryset(conversations)
        return self.get_paginated_response(ConversationSerializer(page, many=True).data)


class ConversationDetailApi(ConversationScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_CONVERSATIONS, "PATCH": Capability.REPLY_CONVERSATIONS}
    serializer_class = ConversationDetailSerializer

    def get(self, request, pk: int):
        return Response(ConversationDetailSerializer(self.get_conversation(pk)).data)

    @extend_schema(
        request=ConversationUpdateSerializer,
        responses={
            200: ConversationDetailSerializer,
            400: OpenApiResponse(description="Bad input"),
        },
    )
    def patch(self, request, pk: int):
        conversation = self.get_conversation(pk)
        data = ConversationUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            conversation = services.conversation_update(
                conversation=conversation,
                actor=request.user,
                data=dict(data.validated_data),
                membership=self.membership,
            )
        except services.ConversationInputError as exc:
            return _field_error(exc)
        return Response(ConversationDetailSerializer(conversation).data)


class ConversationMessagesApi(ConversationScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_CONVERSATIONS, "POST": Capability.REPLY_CONVERSATIONS}
    serializer_class = MessageSerializer
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "before", int, description="a message id: only older messages (scrolling up)"
            )
        ],
        responses=MessageSerializer(many=True),
        description="The thread's messages, newest first, 50 at a time. The first page "
        "(no `before`) marks the thread read.",
    )
    def get(self, request, pk: int):
        conversation = self.get_conversation(pk)
        raw = request.query_params.get("before", "").strip()
        if raw and not raw.isdigit():
            raise ValidationError({"before": ["Give a message id."]})
        messages = selectors.thread_messages(
            conversation=conversation, before=int(raw) if raw else None
        )
        if not raw and request.membership.role != "viewer":
            services.conversation_mark_read(conversation=conversation)
        return Response(MessageSerializer(messages, many=True).data)

    @extend_schema(
        request=ReplyInputSerializer,
        responses={
            201: MessageSerializer,
            400: OpenApiResponse(description="Bad input"),
            409: OpenApiResponse(description="The conversation is marked as spam"),
            422: OpenApiResponse(description="Compliance refuses it (reason, detail)"),
        },
    )
    def post(self, request, pk: int):
        conversation = self.get_conversation(pk)
        data = ReplyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            message = services.conversation_reply(
                conversation=conversation,
                body=data.validated_data["body"],
                actor=request.user,
                media_ids=data.validated_data.get("media_ids", ()),
            )
        except services.ConversationInputError as exc:
            return _field_error(exc)
        except services.ConversationStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except services.ReplyBlocked as exc:
            return Response(
                {"detail": exc.message, "reason": exc.reason},
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class MacroListCreateApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_CONVERSATIONS, "POST": Capability.EDIT_MACROS}
    serializer_class = MacroSerializer

    @extend_schema(operation_id="macros_list")
    def get(self, request):
        page = self.paginate_queryset(selectors.macro_list(account=self.account))
        return self.get_paginated_response(MacroSerializer(page, many=True).data)

    @extend_schema(request=MacroSerializer, responses={201: MacroSerializer})
    def post(self, request):
        try:
            macro = services.macro_create(
                account=self.account,
                actor=request.user,
                name=request.data.get("name"),
                body=request.data.get("body"),
            )
        except services.ConversationInputError as exc:
            return _field_error(exc)
        return Response(MacroSerializer(macro).data, status=status.HTTP_201_CREATED)


class MacroDetailApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {
        "GET": Capability.VIEW_CONVERSATIONS,
        "PATCH": Capability.EDIT_MACROS,
        "DELETE": Capability.EDIT_MACROS,
    }
    serializer_class = MacroSerializer

    def get(self, request, pk: int):
        return Response(
            MacroSerializer(selectors.access_macro(account=self.account, macro_id=pk)).data
        )

    def _editable(self, pk: int) -> Macro:
        """The macro, if this member may change it (their own, or EDIT_ANY_MACRO)."""
        macro = selectors.access_macro(account=self.account, macro_id=pk)
        require(self.membership, Capability.EDIT_MACROS, macro)
        return macro

    @extend_schema(request=MacroSerializer, responses=MacroSerializer)
    def patch(self, request, pk: int):
        macro = self._editable(pk)
        data = {k: request.data[k] for k in ("name", "body") if k in request.data}
        try:
            macro = services.macro_update(macro=macro, data=data)
        except services.ConversationInputError as exc:
            return _field_error(exc)
        return Response(MacroSerializer(macro).data)

    def delete(self, request, pk: int):
        services.macro_delete(macro=self._editable(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MacroSendApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"POST": Capability.REPLY_CONVERSATIONS}
    serializer_class = MacroSendInputSerializer

    @extend_schema(
        request=MacroSendInputSerializer,
        responses={200: MacroOutcomeSerializer(many=True)},
        description="One reply per conversation, each through the compliance checks; "
        "per conversation `queued` or `refused` with the reason.",
    )
    def post(self, request, pk: int):
        macro = selectors.access_macro(account=self.account, macro_id=pk)
        data = MacroSendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            outcomes = services.macro_send(
                macro=macro,
                conversation_ids=data.validated_data["conversation_ids"],
                actor=request.user,
                membership=self.membership,
            )
        except services.ConversationInputError as exc:
            return _field_error(exc)
        return Response(
            {"results": MacroOutcomeSerializer(outcomes, many=True).data},
            status=status.HTTP_200_OK,
        )
