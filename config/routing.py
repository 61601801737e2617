"""WebSocket routes. Apps add their consumers here as they gain live pages."""

from django.urls import path

from conversations.consumers import InboxConsumer
from texting.consumers import CampaignStatusConsumer

websocket_urlpatterns: list = [
    path("ws/campaigns/<int:campaign_id>/", CampaignStatusConsumer.as_asgi()),
    path("ws/conversations/", InboxConsumer.as_asgi()),
]
