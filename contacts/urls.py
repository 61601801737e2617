from django.urls import path

from . import import_views, views

urlpatterns = [
    path("contacts/", views.contact_list_page, name="contact-list"),
    path("contacts/new/", views.contact_add, name="contact-add"),
    path("contacts/import/", import_views.import_page, name="contact-import"),
    path("contacts/import/paste/", import_views.paste_page, name="contact-import-paste"),
    path(
        "contacts/imports/<int:import_id>/",
        import_views.import_detail,
        name="contact-import-detail",
    ),
    path(
        "contacts/imports/<int:import_id>/errors.csv",
        import_views.import_error_report,
        name="contact-import-errors",
    ),
    path("contacts/<int:contact_id>/", views.contact_detail, name="contact-detail"),
    path("contacts/<int:contact_id>/edit/", views.contact_edit, name="contact-edit"),
    path("contacts/<int:contact_id>/delete/", views.contact_delete_page, name="contact-delete"),
]
