from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from .api import SESSION_ACCOUNT_KEY
from .models import Membership
from .parsers import text_problem
from .selectors import membership_for_session

# The API and webhooks resolve the account themselves (X-Account header, token auth).
_SKIP_PREFIXES = ("/api/", "/webhooks/", "/static/", "/s/")


class CurrentAccountMiddleware:
    """For browser pages: the account picked in the session (or the user's first).

    Sync only, and last in settings.MIDDLEWARE, on purpose. Under ASGI Django runs every
    middleware above the innermost sync-only one in sync mode, in one thread; an
    async-capable chain is dearer, because Django's own middleware (MiddlewareMixin) then
    hops to a thread for each process_request/process_response. Measured on the login
    page: 9 thread switches per request with this middleware in the middle of the chain,
    17 with it async-capable, 6 with it last."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.membership = None
        request.account = None
        # The path first: requests that skip never read the session or the user.
        if not request.path.startswith(_SKIP_PREFIXES) and request.user.is_authenticated:
            membership = _membership(request)
            if membership is not None:
                request.membership = membership
                request.account = membership.account
        return self.get_response(request)


def _membership(request: HttpRequest) -> Membership | None:
    slug = request.session.get(SESSION_ACCOUNT_KEY)
    membership = membership_for_session(user=request.user, slug=slug)
    if slug and (membership is None or membership.account.slug != slug):
        request.session.pop(SESSION_ACCOUNT_KEY, None)  # stale: the default was chosen
    return membership


class RejectUnstorableQueryMiddleware:
    """A query string whose parameters hold a NUL character is a 400 naming the
    parameter, for pages and the API alike: search boxes and filters pass their value
    to PostgreSQL, which refuses NUL in text (a 500 before). Lone surrogates cannot
    arrive this way: Django decodes the query string as UTF-8 with replacement.

    Sync only, like CurrentAccountMiddleware below it (see its docstring)."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name, values in request.GET.lists():
            problem = next(filter(None, map(text_problem, [name, *values])), "")
            if problem:
                if request.path.startswith("/api/"):
                    return JsonResponse({name: [problem]}, status=400)
                return HttpResponseBadRequest(
                    f"The query parameter {name!r} is refused. {problem}",
                    content_type="text/plain; charset=utf-8",
                )
        return self.get_response(request)
