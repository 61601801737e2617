from django.urls import path

from . import views

urlpatterns = [
    path("contacts/", views.contact_list_page, name="contact-list"),
    path("contacts/new/", views.contact_add, name="contact-add"),
    path("contacts/<int:contact_id>/", views.contact_detail, name="contact-detail"),
    path("contacts/<int:contact_id>/edit/", views.contact_edit, name="contact-edit"),
    path("contacts/<int:contact_id>/delete/", views.contact_delete_page, name="contact-delete"),
]
