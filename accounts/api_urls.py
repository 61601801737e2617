from django.urls import path

from . import auth_api

urlpatterns = [
    path("auth/token/", auth_api.TokenObtainApi.as_view(), name="api-token"),
    path("auth/logout/", auth_api.TokenLogoutApi.as_view(), name="api-logout"),
    path("auth/me/", auth_api.MeApi.as_view(), name="api-me"),
    path("auth/tokens/", auth_api.MyTokensApi.as_view(), name="api-my-tokens"),
    path("auth/tokens/<int:pk>/", auth_api.MyTokenApi.as_view(), name="api-my-token"),
    path(
        "members/<int:user_id>/tokens/",
        auth_api.MemberTokensApi.as_view(),
        name="api-member-tokens",
    ),
    path(
        "members/<int:user_id>/tokens/<int:pk>/",
        auth_api.MemberTokenApi.as_view(),
        name="api-member-token",
    ),
]
