from .api import SESSION_ACCOUNT_KEY
from .selectors import AccountResolutionError, membership_for_request

# The API and webhooks resolve the account themselves (X-Account header, token auth).
_SKIP_PREFIXES = ("/api/", "/webhooks/", "/static/", "/s/")


class CurrentAccountMiddleware:
    """For browser pages: the account picked in the session (or the user's first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        request.account = None
        if request.user.is_authenticated and not request.path.startswith(_SKIP_PREFIXES):
            try:
                membership = membership_for_request(
                    user=request.user,
                    slug=request.session.get(SESSION_ACCOUNT_KEY),
                    allow_default=True,
                )
            except AccountResolutionError:
                # A stale slug (membership removed): fall back to the default choice.
                request.session.pop(SESSION_ACCOUNT_KEY, None)
                try:
                    membership = membership_for_request(
                        user=request.user, slug=None, allow_default=True
                    )
                except AccountResolutionError:
                    membership = None
            if membership is not None:
                request.membership = membership
                request.account = membership.account
        return self.get_response(request)
