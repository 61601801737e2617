from django.urls import path

from . import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("account/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("account/switch/", views.account_switch, name="account-switch"),
    path("settings/", views.account_settings, name="account-settings"),
    path(
        "settings/members/<int:user_id>/tokens/revoke/",
        views.member_tokens_revoke,
        name="member-tokens-revoke",
    ),
]
