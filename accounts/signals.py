"""A password change, wherever it is made (the UI's form, `add_member --password`, the
admin, `changepassword`), revokes the user's API tokens. Sessions need nothing: Django
ends every session whose hash was made with the old password."""

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save

from .services import api_tokens_revoke


def _revoke_tokens_after_password_change(
    sender: type, instance: Any, created: bool, **kwargs: Any
) -> None:
    # `_password` is Django's own mark of a new password (set_password sets it, save()
    # clears it after this signal and calls the validators' password_changed hooks). A
    # hash upgraded at login is saved without it: the same password, no revocation.
    if not created and getattr(instance, "_password", None) is not None:
        api_tokens_revoke(user=instance)


def connect() -> None:
    post_save.connect(
        _revoke_tokens_after_password_change,
        sender=get_user_model(),
        dispatch_uid="accounts-password-change-revokes-tokens",
    )
