"""Campaign API (API.md "Campaigns"): thin views over texting.services / texting.commit."""

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, renderers, status
from rest_framework.response import Response

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability, can

from . import services
from .audience import campaign_audit
from .campaign_serializers import (
    AuditSerializer,
    CampaignInputSerializer,
    CampaignSerializer,
    CampaignStatusSerializer,
    CommitSerializer,
    MessageRowSerializer,
    PreflightFailedSerializer,
    TechCheckSerializer,
    ThrottleSerializer,
)
from .commit import campaign_commit
from .exports import message_rows_csv
from .models import SendMode
from .selectors import (
    access_campaign,
    campaign_list,
    campaign_messages,
    campaign_status_snapshot,
)
from .techcheck import PreflightError, campaign_tech_check


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
            data=request.data,
            partial=True,
            context={"account": self.account, "campaign": campaign},
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
            422: OpenApiResponse(
                PreflightFailedSerializer, description="A Tech Check failed; nothing queued"
            ),
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
        except PreflightError as exc:
            return Response(
                {"detail": str(exc), "checks": [check.as_dict() for check in exc.checks]},
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        except services.CampaignError as exc:
            return _error(exc, status.HTTP_400_BAD_REQUEST)
        except services.TransitionError as exc:
            return _error(exc, status.HTTP_409_CONFLICT)
        body = CampaignSerializer(result.campaign).data
        body |= {
            "queued": result.inserted,
            "excluded": result.excluded,
            "estimated_cost": str(result.estimated_cost),
            "balance": str(result.campaign.account.balance),
            "warnings": result.warnings,  # quiet hours: who waits, and until when
        }
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


class CampaignStatusApi(CampaignScopedMixin, generics.GenericAPIView):
    capabilities = {"GET": Capability.VIEW_STATS}
    serializer_class = CampaignStatusSerializer

    def get(self, request, pk: int):
        return Response(campaign_status_snapshot(campaign=self.get_campaign(pk)))


class CampaignAuditApi(CampaignScopedMixin, generics.GenericAPIView):
    """Eligibility audit: who of the audience may be texted right now, and why not."""

    capabilities = {"GET": Capability.VIEW_STATS}
    serializer_class = AuditSerializer

    def get(self, request, pk: int):
        campaign = self.get_campaign(pk)
        try:
            audit = campaign_audit(campaign=campaign)
        except services.CampaignError as exc:
            return _error(exc, status.HTTP_400_BAD_REQUEST)
        return Response(audit.as_dict())


class CampaignTechCheckApi(CampaignScopedMixin, generics.GenericAPIView):
    """The pre-send checks as they stand now (the commit runs them again). Reads only."""

    capabilities = {"GET": Capability.VIEW_STATS}
    serializer_class = TechCheckSerializer

    def get(self, request, pk: int):
        return Response(campaign_tech_check(campaign=self.get_campaign(pk)).as_dict())


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

    @extend_schema(
        parameters=[
            OpenApiParameter("status", description="Only rows with this message status."),
            OpenApiParameter(
                "q",
                description="Search: phone digits (3+), or words matching the recipient's "
                "first, last or preferred name.",
            ),
            OpenApiParameter(
                "format", enum=["json", "csv"], description="`csv` exports every matching row."
            ),
        ]
    )
    def get(self, request, pk: int):
        campaign = self.get_campaign(pk)
        rows = campaign_messages(
            campaign=campaign,
            status=request.query_params.get("status", ""),
            q=request.query_params.get("q", ""),
        )
        if request.query_params.get("format") == "csv":
            # Not streamed: HttpResponse keeps `.content` for clients and tests; the
            # writer itself is chunked and serializer-free (fine at 100k rows).
            response = HttpResponse(
                message_rows_csv(account_id=campaign.account_id, rows=rows),
                content_type="text/csv",
            )
            response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}.csv"'
            return response
        page = self.paginate_queryset(rows.order_by("id"))
        return self.get_paginated_response(MessageRowSerializer(page, many=True).data)
