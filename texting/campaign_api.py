"""Campaign API (API.md "Campaigns"): thin views over texting.services / texting.commit."""

import csv

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, renderers, status
from rest_framework.response import Response

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability, can

from . import services
from .campaign_serializers import (
    CampaignInputSerializer,
    CampaignSerializer,
    CampaignStatusSerializer,
    CommitSerializer,
    MessageRowSerializer,
    ThrottleSerializer,
)
from .commit import campaign_commit, campaign_message_counts
from .models import Message, SendMode
from .selectors import access_campaign, campaign_list


def _error(exc: Exception, code: int) -> Response:
    return Response({"detail": str(exc)}, status=code)


class CampaignScopedMixin(AccountScopedMixin):
    def get_campaign(self, pk: int):
        return access_campaign(account=self.account, campaign_id=pk)


class CampaignListCreateApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_STATS, "POST": Capability.COMPOSE}
    serializer_class = CampaignSerializer

    @extend_schema(operation_id="campaigns_list")
    def get(self, request):
        page = self.paginate_queryset(campaign_list(account=self.account))
        return self.get_paginated_response(CampaignSerializer(page, many=True).data)

    @extend_schema(request=CampaignInputSerializer, responses={201: CampaignSerializer})
    def post(self, request):
        data = CampaignInputSerializer(data=request.data, context={"account": self.account})
        data.is_valid(raise_exception=True)
        campaign = services.campaign_create_from(
            account=self.account, actor=request.user, data=data.validated_data
        )
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(CampaignScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_STATS, "PATCH": Capability.COMPOSE}
    serializer_class = CampaignSerializer

    def get(self, request, pk: int):
        return Response(CampaignSerializer(self.get_campaign(pk)).data)

    @extend_schema(request=CampaignInputSerializer, responses=CampaignSerializer)
    def patch(self, request, pk: int):
        campaign = self.get_campaign(pk)
        data = CampaignInputSerializer(
            data=request.data, partial=True, context={"account": self.account}
        )
        data.is_valid(raise_exception=True)
        try:
            campaign = services.campaign_update(campaign=campaign, data=data.validated_data)
        except services.TransitionError as exc:
            return _error(exc, status.HTTP_409_CONFLICT)
        return Response(CampaignSerializer(campaign).data)


class CampaignCommitApi(CampaignScopedMixin, generics.GenericAPIView):
    capabilities = {"POST": Capability.SEND}
    serializer_class = CommitSerializer

    @extend_schema(
        request=CommitSerializer,
        responses={
            200: CampaignSerializer,
            400: OpenApiResponse(description="Bad input"),
            409: OpenApiResponse(description="Wrong state"),
        },
    )
    def post(self, request, pk: int):
        campaign = self.get_campaign(pk)
        data = CommitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        if args["send_mode"] == SendMode.SCHEDULE and not can(
            self.membership.role, Capability.AUTOMATE
        ):
            return _error(PermissionError("Your role may not schedule sends."), 403)
        try:
            result = campaign_commit(campaign=campaign, actor=request.user, **args)
        except services.CampaignError as exc:
            return _error(exc, status.HTTP_400_BAD_REQUEST)
        except services.TransitionError as exc:
            return _error(exc, status.HTTP_409_CONFLICT)
        body = CampaignSerializer(result.campaign).data
        body |= {"queued": result.inserted, "excluded": result.excluded}
        return Response(body)


def _control(action, capability: Capability, operation_id: str):
    class ControlApi(CampaignScopedMixin, generics.GenericAPIView):
        capabilities = {"POST": capability}
        serializer_class = CampaignSerializer

        @extend_schema(operation_id=operation_id, request=None, responses=CampaignSerializer)
        def post(self, request, pk: int):
            try:
                campaign = action(campaign=self.get_campaign(pk))
            except services.TransitionError as exc:
                return _error(exc, status.HTTP_409_CONFLICT)
            return Response(CampaignSerializer(campaign).data)

    ControlApi.__name__ = f"Campaign{operation_id.title().replace('_', '')}Api"
    return ControlApi


CampaignPauseApi = _control(services.campaign_pause, Capability.PAUSE_CAMPAIGN, "campaign_pause")
CampaignResumeApi = _control(services.campaign_resume, Capability.SEND, "campaign_resume")
CampaignCancelApi = _control(services.campaign_cancel, Capability.SEND, "campaign_cancel")


class CampaignThrottleApi(CampaignScopedMixin, generics.GenericAPIView):
    capabilities = {"POST": Capability.SEND}
    serializer_class = ThrottleSerializer

    @extend_schema(request=ThrottleSerializer, responses=CampaignSerializer)
    def post(self, request, pk: int):
        campaign = self.get_campaign(pk)
        data = ThrottleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            campaign = services.campaign_throttle(
                campaign=campaign, max_mps=data.validated_data["max_mps"]
            )
        except services.TransitionError as exc:
            return _error(exc, status.HTTP_409_CONFLICT)
        return Response(CampaignSerializer(campaign).data)


def campaign_status_snapshot(campaign) -> dict:
    counts = campaign_message_counts(campaign=campaign)
    selected = sum(counts.values())
    waiting = sum(counts.get(s, 0) for s in ("queued", "scheduled", "sending"))
    finished = selected - waiting
    return {
        "status": campaign.status,
        "selected": selected,
        "queued": waiting,
        "sent": counts.get("sent", 0) + counts.get("delivered", 0),
        "delivered": counts.get("delivered", 0),
        "failed": counts.get("failed", 0),
        "opted_out": 0,  # counted once inbound STOP handling lands (issue 4)
        "replied": 0,  # counted once conversations land (issue 6)
        "progress": round(finished / selected, 4) if selected else 0.0,
        "eta": None,  # estimated by the dispatcher (not built yet)
    }


class CampaignStatusApi(CampaignScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_STATS}
    serializer_class = CampaignStatusSerializer

    def get(self, request, pk: int):
        return Response(campaign_status_snapshot(self.get_campaign(pk)))


class CSVRenderer(renderers.BaseRenderer):
    """Lets DRF's `?format=csv` negotiation through; the view writes the CSV itself."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class CampaignMessagesApi(CampaignScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_STATS}
    serializer_class = MessageRowSerializer
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, CSVRenderer]

    def get(self, request, pk: int):
        campaign = self.get_campaign(pk)
        rows = Message.objects.filter(account=self.account, campaign=campaign).order_by("id")
        if wanted := request.query_params.get("status"):
            rows = rows.filter(status=wanted)
        if q := request.query_params.get("q", "").strip():
            digits = "".join(ch for ch in q if ch.isdigit())
            rows = rows.filter(to_number__contains=digits) if digits else rows.none()
        if request.query_params.get("format") == "csv":
            response = HttpResponse(content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}.csv"'
            writer = csv.writer(response)
            fields = MessageRowSerializer.Meta.fields
            writer.writerow(fields)
            for row in MessageRowSerializer(rows.iterator(chunk_size=2000), many=True).data:
                writer.writerow([row[f] for f in fields])
            return response
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(MessageRowSerializer(page, many=True).data)
