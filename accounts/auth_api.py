"""Authentication API (API.md "Auth"): tokens for clients, who am I, and an account
admin's view of a member's tokens (`/api/v1/members/{user id}/tokens/`)."""

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, status, throttling
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .api import AccountScopedMixin, resolve_membership
from .models import ApiToken
from .permissions import Capability


class LoginThrottledError(exceptions.Throttled):
    """429 with Retry-After and our sentence (DRF's would add 'Expected available…')."""

    def __init__(self, wait: int) -> None:
        exceptions.APIException.__init__(self, services.LoginThrottled(wait).message)
        self.wait = wait


class PasswordGuessThrottle(throttling.BaseThrottle):
    """Refuses the token endpoint while the username or the client's IP is over its
    failure limit (accounts.services.login_wait); the view counts the failures."""

    def allow_request(self, request: Request, view) -> bool:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        self._wait = services.login_wait(
            username=username if isinstance(username, str) else "",
            ip=services.client_ip(request),
        )
        return not self._wait

    def wait(self) -> int:
        return self._wait


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    name = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="A label for the client this token is for (shown in token lists).",
    )


class TokenIssuedSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_prefix", "created_at", "last_used_at", "expires_at"]
        read_only_fields = fields


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class TokenObtainApi(APIView):
    """`POST /api/v1/auth/token/ {username, password[, name]}` → `{token, expires_at}`.

    Each call issues a new token (one per client), valid API_TOKEN_DAYS. Repeated wrong
    passwords for a username or from an IP answer 429 with Retry-After."""

    authentication_classes: list = []  # a stale token in the header must not 401 a login
    permission_classes = [permissions.AllowAny]
    throttle_classes = [PasswordGuessThrottle]

    def throttled(self, request: Request, wait: float) -> None:
        raise LoginThrottledError(int(wait))

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenIssuedSerializer,
            400: OpenApiResponse(description="Wrong username or password."),
            429: OpenApiResponse(description="Too many wrong passwords; see Retry-After."),
        },
    )
    def post(self, request: Request) -> Response:
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user = services.login_authenticate(
                request=request,
                username=data.validated_data["username"],
                password=data.validated_data["password"],
            )
        except services.LoginThrottled as exc:
            raise LoginThrottledError(exc.wait) from None
        if user is None:
            raise serializers.ValidationError(
                {"non_field_errors": ["Unable to log in with provided credentials."]}
            )
        issued = services.api_token_issue(user=user, name=data.validated_data.get("name", ""))
        return Response({"token": issued.key, "expires_at": issued.token.expires_at})


class TokenLogoutApi(APIView):
    """`POST /api/v1/auth/logout/`: revokes the token this request was made with."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            raise serializers.ValidationError(
                {"detail": "Log out with the token to revoke (Authorization: Token …)."}
            )
        services.api_tokens_revoke(user=request.user, token_id=request.auth.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyTokensApi(APIView):
    """`GET /api/v1/auth/tokens/`: your live tokens (never their keys)."""

    @extend_schema(responses=ApiTokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        tokens = selectors.api_tokens_for_user(user=request.user)
        return Response(ApiTokenSerializer(tokens, many=True).data)


class MyTokenApi(APIView):
    """`DELETE /api/v1/auth/tokens/{id}/`: revoke one of your tokens."""

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        if not services.api_tokens_revoke(user=request.user, token_id=pk):
            raise exceptions.NotFound("No such token.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    account = serializers.CharField()
    role = serializers.CharField()


class MeApi(APIView):
    """`GET /api/v1/auth/me/` → `{id, username, account, role}` (the account this request
    acts in: X-Account, or the user's only one)."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        membership = resolve_membership(request)
        return Response(
            {
                "id": request.user.pk,
                "username": request.user.get_username(),
                "account": membership.account.slug,
                "role": membership.role,
            }
        )


class RevokedSerializer(serializers.Serializer):
    revoked = serializers.IntegerField()


class MemberTokensApi(AccountScopedMixin, APIView):
    """`GET /api/v1/members/{user id}/tokens/`: a member's live tokens;
    `DELETE` revokes them all → `{revoked}`. Admins (MANAGE_ACCOUNT)."""

    capabilities = {"GET": Capability.MANAGE_ACCOUNT, "DELETE": Capability.MANAGE_ACCOUNT}

    @extend_schema(responses=ApiTokenSerializer(many=True))
    def get(self, request: Request, user_id: int) -> Response:
        member = selectors.access_member_tokens(account=self.account, user_id=user_id)
        tokens = selectors.api_tokens_for_user(user=member.user)
        return Response(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(responses=RevokedSerializer, operation_id="members_tokens_revoke_all")
    def delete(self, request: Request, user_id: int) -> Response:
        member = selectors.access_member_tokens(account=self.account, user_id=user_id)
        return Response({"revoked": services.api_tokens_revoke(user=member.user)})


class MemberTokenApi(AccountScopedMixin, APIView):
    """`DELETE /api/v1/members/{user id}/tokens/{id}/`: revoke one of a member's tokens."""

    capabilities = {"DELETE": Capability.MANAGE_ACCOUNT}

    @extend_schema(responses={204: None}, operation_id="members_token_revoke")
    def delete(self, request: Request, user_id: int, pk: int) -> Response:
        member = selectors.access_member_tokens(account=self.account, user_id=user_id)
        if not services.api_tokens_revoke(user=member.user, token_id=pk):
            raise exceptions.NotFound("No such token.")
        return Response(status=status.HTTP_204_NO_CONTENT)
