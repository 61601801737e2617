from django.urls import path

from . import views

urlpatterns = [
    path("conversations/", views.inbox, name="conversation-inbox"),
    path("conversations/recent/", views.recent_replies, name="conversation-recent"),
    path("conversations/macros/", views.macro_list_page, name="macro-list"),
    path("conversations/macros/send/", views.macro_send_view, name="macro-send"),
    path("conversations/macros/<int:macro_id>/", views.macro_edit_page, name="macro-edit"),
    path(
        "conversations/macros/<int:macro_id>/delete/",
        views.macro_delete_view,
        name="macro-delete",
    ),
    path("conversations/<int:conversation_id>/", views.thread, name="conversation-thread"),
    path(
        "conversations/<int:conversation_id>/messages/",
        views.thread_messages_page,
        name="conversation-messages",
    ),
    path(
        "conversations/<int:conversation_id>/header/",
        views.thread_header,
        name="conversation-header",
    ),
    path(
        "conversations/<int:conversation_id>/reply/",
        views.thread_reply,
        name="conversation-reply",
    ),
    path(
        "conversations/<int:conversation_id>/update/",
        views.thread_update,
        name="conversation-update",
    ),
]
