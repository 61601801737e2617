from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import services
from .ingest import WebhookRejected, webhook_verify


@csrf_exempt  # Telnyx sends no CSRF token; the Ed25519 signature authenticates the body
@require_POST
def telnyx_webhook(request: HttpRequest) -> HttpResponse:
    """Verify, store once, answer at once; a drain applies the event.

    Under ASGI the same path is answered by the fast path (providers.ingest), which
    shares these checks and this store; this view serves WSGI and the test client."""
    try:
        envelope = webhook_verify(body=request.body, headers=request.headers)
    except WebhookRejected as exc:
        return HttpResponse(str(exc), status=exc.status)
    services.webhook_event_store(envelope=envelope)
    return HttpResponse(status=200)
