"""Compliance pages (consent trail, DNC list)."""

from django.urls import path

from . import consent_views, views

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
]
