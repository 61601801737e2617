from django.urls import path

from . import views

# Under ASGI, providers.ingest.with_webhook_fast_path answers this path (WEBHOOK_PATH)
# before Django sees it.
urlpatterns = [path("telnyx/", views.telnyx_webhook, name="webhook-telnyx")]
