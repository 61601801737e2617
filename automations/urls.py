from django.urls import path

from . import views

urlpatterns = [
    path("automations/", views.automation_list, name="automation-list"),
]
