from django.urls import path

from . import api

urlpatterns = [
    path("simulator/inbound/", api.SimulatorInboundApi.as_view(), name="api-simulator-inbound"),
]
