from django.urls import path

from . import (
    compose_views,
    library_views,
    public_views,
    recipients_views,
    sender_views,
    tribe_views,
    views,
)

urlpatterns = [
    # No login: the short link and the signed media URL authorise themselves.
    path("s/<str:code>", public_views.short_link_redirect, name="short-link"),
    path("m/<str:token>/<str:name>", public_views.media_file, name="media-file"),
    path("templates/", library_views.template_list_page, name="template-list"),
    path("templates/new/", library_views.template_create_page, name="template-create"),
    path(
        "templates/<int:template_id>/<slug:action>/",
        library_views.template_change_page,
        name="template-change",
    ),
    path(
        "campaigns/<int:campaign_id>/compose/save-template/",
        library_views.compose_save_template,
        name="campaign-compose-save-template",
    ),
    path(
        "campaigns/<int:campaign_id>/compose/media/<slug:action>/",
        library_views.compose_media,
        name="campaign-compose-media",
    ),
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
        "campaigns/<int:campaign_id>/compose/counter/",
        compose_views.compose_counter,
        name="campaign-compose-counter",
    ),
    path(
        "campaigns/<int:campaign_id>/compose/save/",
        compose_views.compose_save,
        name="campaign-compose-save",
    ),
    path(
        "campaigns/<int:campaign_id>/compose/senders/",
        sender_views.compose_senders,
        name="campaign-compose-senders",
    ),
    path(
        "campaigns/<int:campaign_id>/compose/senders/estimate/",
        sender_views.compose_senders_estimate,
        name="campaign-compose-senders-estimate",
    ),
    path(
        "campaigns/<int:campaign_id>/recipients/paste/",
        recipients_views.recipients_paste,
        name="campaign-recipients-paste",
    ),
    path(
        "campaigns/<int:campaign_id>/recipients/upload/",
        recipients_views.recipients_upload,
        name="campaign-recipients-upload",
    ),
    path(
        "campaigns/<int:campaign_id>/recipients/exclusions/",
        recipients_views.recipients_exclusions,
        name="campaign-recipients-exclusions",
    ),
    # The Recipients tab's Tribe picker and filter builder (texting.tribe_views).
    path(
        "campaigns/<int:campaign_id>/recipients/tribes/",
        tribe_views.campaign_tribe_picker,
        name="campaign-tribe-picker",
    ),
    path(
        "campaigns/<int:campaign_id>/recipients/tribes/<int:tribe_id>/",
        tribe_views.campaign_tribe_pick,
        name="campaign-tribe-pick",
    ),
    path(
        "campaigns/<int:campaign_id>/recipients/builder/",
        tribe_views.campaign_filter_builder,
        name="campaign-filter-builder",
    ),
    path(
        "campaigns/<int:campaign_id>/recipients/tribe/",
        tribe_views.campaign_audience_tribe,
        name="campaign-audience-tribe",
    ),
    path(
        "campaigns/<int:campaign_id>/recipients/filter/",
        tribe_views.campaign_audience_filter,
        name="campaign-audience-filter",
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
