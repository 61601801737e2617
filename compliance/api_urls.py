"""Compliance API (API.md "Contacts, consent, history"; DNC list)."""

from django.urls import path

from . import api, dnc_api

# Consent (contacts/{id}/consents/) and the DNC list register their paths here.
urlpatterns: list = [
    path(
        "contacts/<int:pk>/consents/",
        api.ContactConsentsApi.as_view(),
        name="api-contact-consents",
    ),
    path("dnc/", dnc_api.DncListCreateApi.as_view(), name="api-dnc"),
    path("dnc/import/", dnc_api.DncImportApi.as_view(), name="api-dnc-import"),
    path("dnc/<int:pk>/", dnc_api.DncDetailApi.as_view(), name="api-dnc-entry"),
    path("contacts/<int:pk>/spam/", dnc_api.ContactSpamApi.as_view(), name="api-contact-spam"),
]
