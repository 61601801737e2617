from django.db import models

from accounts.models import Account


class NumberKind(models.TextChoices):
    LONG = "long", "Long code (10DLC)"
    TOLL_FREE = "toll_free", "Toll-free"
    SHORT = "short", "Short code"


class NumberStatus(models.TextChoices):
    PENDING = "pending", "Order pending"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    RELEASED = "released", "Released"


class RegistrationStatus(models.TextChoices):
    UNREGISTERED = "unregistered", "Unregistered"
    BRAND_PENDING = "brand_pending", "Brand pending"
    BRAND_APPROVED = "brand_approved", "Brand approved"
    CAMPAIGN_PENDING = "campaign_pending", "Campaign pending"
    CAMPAIGN_APPROVED = "campaign_approved", "Campaign approved"
    ACTIVE = "active", "Active"
    REJECTED = "rejected", "Rejected"


class PhoneNumber(models.Model):
    """A sender we own: long code, toll-free or short code. Full management comes later."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="phone_numbers")
    e164 = models.CharField(max_length=16, unique=True)  # short codes are stored as digits
    kind = models.CharField(max_length=10, choices=NumberKind.choices, default=NumberKind.LONG)
    status = models.CharField(
        max_length=10, choices=NumberStatus.choices, default=NumberStatus.ACTIVE
    )
    state = models.CharField(max_length=2, blank=True)
    mps = models.DecimalField(max_digits=7, decimal_places=2, default=1)
    registration_status = models.CharField(
        max_length=20, choices=RegistrationStatus.choices, default=RegistrationStatus.UNREGISTERED
    )
    provider_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["e164"]
        indexes = [models.Index(fields=["account", "status"])]

    def __str__(self) -> str:
        return self.e164
