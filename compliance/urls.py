"""Compliance pages (consent trail, DNC list)."""

from django.urls import path

from . import consent_views, tribe_views, views

urlpatterns: list = [
    path("dnc/", views.dnc_page, name="dnc-list"),
    path("dnc/add/", views.dnc_add_page, name="dnc-add"),
    path("dnc/import/", views.dnc_import_page, name="dnc-import"),
    path("dnc/<int:entry_id>/remove/", views.dnc_remove_page, name="dnc-remove"),
    path("contacts/<int:contact_id>/spam/", views.contact_spam_page, name="contact-spam"),
    path(
        "contacts/<int:contact_id>/consents/",
        consent_views.contact_consents_page,
        name="contact-consents",
    ),
    path("tribes/", tribe_views.tribe_list_page, name="tribe-list"),
    path("tribes/new/", tribe_views.tribe_new_page, name="tribe-new"),
    path("tribes/preview/", tribe_views.tribe_filter_preview, name="tribe-filter-preview"),
    path("tribes/save/", tribe_views.tribe_save_from_builder, name="tribe-save-from-builder"),
    path("tribes/<int:tribe_id>/", tribe_views.tribe_detail_page, name="tribe-detail"),
    path("tribes/<int:tribe_id>/edit/", tribe_views.tribe_edit_page, name="tribe-edit"),
    path("tribes/<int:tribe_id>/delete/", tribe_views.tribe_delete_page, name="tribe-delete"),
]
