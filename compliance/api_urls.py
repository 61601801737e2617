"""Compliance API (API.md "Contacts, consent, history"; DNC list)."""

# Consent (contacts/{id}/consents/) and the DNC list register their paths here.
urlpatterns: list = []
