import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from telnyx.lib.webhook_verification import WebhookVerificationError, verify_webhook_signature

from . import services


@csrf_exempt  # Telnyx sends no CSRF token; the Ed25519 signature authenticates the body
@require_POST
def telnyx_webhook(request: HttpRequest) -> HttpResponse:
    """Verify, store once, answer at once; a Celery task applies the event."""
    try:
        # The raw bytes as received: re-serialised JSON would not verify.
        verify_webhook_signature(request.body, request.headers, settings.TELNYX_PUBLIC_KEY)
    except (WebhookVerificationError, ValueError):
        return HttpResponseForbidden("invalid signature")
    try:
        envelope = json.loads(request.body)
        services.webhook_event_store(envelope=envelope)
    except (ValueError, TypeError, AttributeError):
        return HttpResponseBadRequest("not a Telnyx event")
    return HttpResponse(status=200)
