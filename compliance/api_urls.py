"""Compliance API (API.md "Contacts, consent, history"; DNC list)."""

from django.urls import path

from . import api, dnc_api, tribe_api

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
    # Tribes: here, not in contacts, for the SMS-eligible count (compliance.tribes).
    path("tribes/", tribe_api.TribeListCreateApi.as_view(), name="api-tribes"),
    path("tribes/<int:pk>/", tribe_api.TribeDetailApi.as_view(), name="api-tribe"),
    path("tribes/<int:pk>/members/", tribe_api.TribeMembersApi.as_view(), name="api-tribe-members"),
]
