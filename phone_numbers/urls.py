from django.urls import path

from . import views

urlpatterns = [
    path("numbers/", views.number_list_page, name="number-list"),
]
