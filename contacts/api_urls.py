from django.urls import path

from . import api, import_api

urlpatterns = [
    path("contacts/", api.ContactListCreateApi.as_view(), name="api-contacts"),
    path("contacts/import/", import_api.ContactImportApi.as_view(), name="api-contacts-import"),
    path("contacts/<int:pk>/", api.ContactDetailApi.as_view(), name="api-contact"),
    path("contacts/<int:pk>/history/", api.ContactHistoryApi.as_view(), name="api-contact-history"),
    path("imports/<int:pk>/", import_api.ImportDetailApi.as_view(), name="api-import"),
    path(
        "imports/<int:pk>/errors.csv",
        import_api.ImportErrorReportApi.as_view(),
        name="api-import-errors",
    ),
]
