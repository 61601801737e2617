from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("campaigns/", views.campaign_list_page, name="campaign-list"),
    path("campaigns/new/", views.campaign_new, name="campaign-new"),
    path("campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:campaign_id>/<slug:tab>/", views.campaign_tab, name="campaign-tab"),
    # The Status tab's partials, buttons and export (three segments: never a tab name).
    path(
        "campaigns/<int:campaign_id>/status/state/",
        views.campaign_status_state,
        name="campaign-status-state",
    ),
    path(
        "campaigns/<int:campaign_id>/status/health/",
        views.campaign_status_health,
        name="campaign-status-health",
    ),
    path(
        "campaigns/<int:campaign_id>/status/export.csv",
        views.campaign_status_export,
        name="campaign-status-export",
    ),
    path(
        "campaigns/<int:campaign_id>/tech-check/commit/",
        views.campaign_techcheck_commit,
        name="campaign-techcheck-commit",
    ),
    path(
        "campaigns/<int:campaign_id>/status/<slug:action>/",
        views.campaign_status_control,
        name="campaign-status-control",
    ),
]
