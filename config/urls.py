from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

api_v1 = [
    path("", include("accounts.api_urls")),
    path("", include("contacts.api_urls")),
    path("", include("phone_numbers.api_urls")),
    path("", include("compliance.api_urls")),
    path("", include("texting.api_urls")),
    path("", include("conversations.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("webhooks/", include("providers.urls")),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("contacts.urls")),
    path("", include("phone_numbers.urls")),
    path("", include("compliance.urls")),
    path("", include("texting.urls")),
    path("", include("conversations.urls")),
    path("", include("automations.urls")),
]
