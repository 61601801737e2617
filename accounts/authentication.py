"""`Authorization: Token <key>` against accounts.models.ApiToken (hashed, expiring)."""

from rest_framework import authentication, exceptions

from .services import api_token_authenticate


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """DRF's header parsing (keyword `Token`, 401 with `WWW-Authenticate: Token`), our
    token store. The key is never put in a message or a log line."""

    def authenticate_credentials(self, key: str):
        token = api_token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        return token.user, token
