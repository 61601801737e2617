from django.urls import path

from . import api

urlpatterns = [
    path("conversations/", api.ConversationListApi.as_view(), name="api-conversations"),
    path("conversations/<int:pk>/", api.ConversationDetailApi.as_view(), name="api-conversation"),
    path(
        "conversations/<int:pk>/messages/",
        api.ConversationMessagesApi.as_view(),
        name="api-conversation-messages",
    ),
    path("macros/", api.MacroListCreateApi.as_view(), name="api-macros"),
    path("macros/<int:pk>/", api.MacroDetailApi.as_view(), name="api-macro"),
    path("macros/<int:pk>/send/", api.MacroSendApi.as_view(), name="api-macro-send"),
]
