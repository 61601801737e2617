"""ASGI entry point: HTTP through Django, WebSockets through Channels, and provider
webhooks through their own fast path (providers.ingest: verified and stored without
Django's middleware chain or sync/async thread switches)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.bodylimit import with_body_limit  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from providers.ingest import with_webhook_fast_path  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Bodies over REQUEST_MAX_BYTES are refused before anything reads them.
        "http": with_body_limit(with_webhook_fast_path(django_asgi_app)),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
