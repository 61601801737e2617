import datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

DEFAULT_STOP_LANGUAGE = "Reply STOP to opt out."
DEFAULT_HELP_TEXT = "Reply STOP to opt out. Msg & data rates may apply."
# The keyword confirmations (compliance.keywords sends them; Settings edits them).
DEFAULT_OPT_OUT_CONFIRMATION = "You've been unsubscribed. Reply START to opt back in."
DEFAULT_OPT_IN_CONFIRMATION = (
    "You're opted in. Msg & data rates may apply. Reply HELP for help, STOP to opt out."
)


class Account(models.Model):
    """A tenant: one organisation or campaign. Every domain row hangs off an account."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = models.CharField(max_length=64, default="America/New_York")
    stop_language = models.CharField(max_length=160, default=DEFAULT_STOP_LANGUAGE)
    help_text = models.CharField(max_length=320, default=DEFAULT_HELP_TEXT)
    # Sent once in reply to a STOP, and when START/YES opts a contact in.
    opt_out_confirmation = models.CharField(max_length=320, default=DEFAULT_OPT_OUT_CONFIRMATION)
    opt_in_confirmation = models.CharField(max_length=320, default=DEFAULT_OPT_IN_CONFIRMATION)
    quiet_hours_start = models.TimeField(default=datetime.time(21, 0))
    quiet_hours_end = models.TimeField(default=datetime.time(8, 0))
    # Prepaid balance in USD. Debited as messages are accepted; never below zero
    # (the CHECK constraint backs the conditional UPDATE the send engine uses).
    balance = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(balance__gte=0), name="account_balance_non_negative"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MANAGER = "manager", "Manager"
    FIELD = "field", "Field user"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "account"], name="one_membership_per_user_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.account.slug} ({self.role})"


class ApiToken(models.Model):
    """An API token (`Authorization: Token <key>`), one per client a user connects.

    Only the SHA-256 of the key is stored: the key is shown once, when issued, and a
    copy of the database holds nothing that authenticates. (The keys are 160 random
    bits, so a fast hash is enough; there is nothing to guess.) `key_prefix`, the first
    characters, lets a person tell their tokens apart in lists.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    key_prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.name or 'API token'})"
