"""WebSocket routes. Apps add their consumers here as they gain live pages."""

websocket_urlpatterns: list = []
