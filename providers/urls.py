from django.urls import path

from . import views

urlpatterns = [path("telnyx/", views.telnyx_webhook, name="webhook-telnyx")]
