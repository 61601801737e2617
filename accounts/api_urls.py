from django.urls import path
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.settings import api_settings

urlpatterns = [
    path(
        "auth/token/",
        # DRF's view names its own parsers; ours refuse NUL and over-deep JSON (a 400).
        ObtainAuthToken.as_view(parser_classes=api_settings.DEFAULT_PARSER_CLASSES),
        name="api-token",
    )
]
