"""Compliance pages (consent trail, DNC list)."""

urlpatterns: list = []
