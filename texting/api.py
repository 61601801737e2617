from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from accounts.api import AccountScopedMixin
from accounts.permissions import Capability
from providers.simulator.services import inject_inbound

from .serializers import SimulatorInboundResultSerializer, SimulatorInboundSerializer


class SimulatorInboundApi(AccountScopedMixin, generics.GenericAPIView):
    capabilities = {"POST": Capability.SIMULATE}
    serializer_class = SimulatorInboundSerializer

    @extend_schema(
        operation_id="simulator_inbound",
        request=SimulatorInboundSerializer,
        responses={
            202: SimulatorInboundResultSerializer,
            409: OpenApiResponse(description="The provider is not the simulator."),
        },
        description="The simulated carrier delivers an inbound SMS to one of your numbers "
        "(a signed message.received webhook, posted from the simulator queue). Admin only.",
    )
    def post(self, request):
        if settings.PROVIDER != "simulator":
            return Response(
                {
                    "detail": f"The provider is {settings.PROVIDER}, not the simulator: nothing to inject."
                },
                status=status.HTTP_409_CONFLICT,
            )
        data = SimulatorInboundSerializer(data=request.data, context={"account": self.account})
        data.is_valid(raise_exception=True)
        event_id = inject_inbound(
            from_=data.validated_data["from"],
            to=data.validated_data["to"],
            text=data.validated_data["text"],
        )
        return Response({"event_id": event_id}, status=status.HTTP_202_ACCEPTED)
