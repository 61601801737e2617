from django.urls import path

from . import api

urlpatterns = [
    path("contacts/", api.ContactListCreateApi.as_view(), name="api-contacts"),
    path("contacts/<int:pk>/", api.ContactDetailApi.as_view(), name="api-contact"),
    path("contacts/<int:pk>/history/", api.ContactHistoryApi.as_view(), name="api-contact-history"),
]
