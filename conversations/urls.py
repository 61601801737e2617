from django.urls import path

from . import views

urlpatterns = [
    path("conversations/", views.inbox, name="conversation-inbox"),
]
