from django.urls import path

from . import api, audit_trail_api, campaign_api, compose_api, library_api

urlpatterns = [
    path("media/", library_api.MediaListCreateApi.as_view(), name="api-media"),
    path("media/<int:pk>/", library_api.MediaDetailApi.as_view(), name="api-media-detail"),
    path("templates/", library_api.TemplateListCreateApi.as_view(), name="api-templates"),
    path("templates/<int:pk>/", library_api.TemplateDetailApi.as_view(), name="api-template"),
    path("simulator/inbound/", api.SimulatorInboundApi.as_view(), name="api-simulator-inbound"),
    path("audit-trail/", audit_trail_api.AuditTrailApi.as_view(), name="api-audit-trail"),
    path("compose/preview/", compose_api.ComposePreviewApi.as_view(), name="api-compose-preview"),
    path("campaigns/", campaign_api.CampaignListCreateApi.as_view(), name="api-campaigns"),
    path("campaigns/<int:pk>/", campaign_api.CampaignDetailApi.as_view(), name="api-campaign"),
    path("campaigns/<int:pk>/commit/", campaign_api.CampaignCommitApi.as_view()),
    path("campaigns/<int:pk>/pause/", campaign_api.CampaignPauseApi.as_view()),
    path("campaigns/<int:pk>/resume/", campaign_api.CampaignResumeApi.as_view()),
    path("campaigns/<int:pk>/cancel/", campaign_api.CampaignCancelApi.as_view()),
    path("campaigns/<int:pk>/throttle/", campaign_api.CampaignThrottleApi.as_view()),
    path("campaigns/<int:pk>/audit/", campaign_api.CampaignAuditApi.as_view()),
    path("campaigns/<int:pk>/tech-check/", campaign_api.CampaignTechCheckApi.as_view()),
    path("campaigns/<int:pk>/status/", campaign_api.CampaignStatusApi.as_view()),
    path("campaigns/<int:pk>/messages/", campaign_api.CampaignMessagesApi.as_view()),
]
