import uuid

from django.db import models


class WebhookStatus(models.TextChoices):
    """received -> processed | parked | failed; parked -> processed (rematch) | failed.

    `parked`: the event refers to something we do not know yet (a delivery receipt that
    arrived before its outbound message row); `rematch_parked` re-runs it later.
    `failed`: it can never apply (e.g. an inbound SMS to a number no account owns).
    """

    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    PARKED = "parked", "Parked"
    FAILED = "failed", "Failed"


class WebhookEvent(models.Model):
    """A provider event exactly as it arrived, stored before anything acts on it.

    `event_id` (Telnyx `data.id`) is unique: a redelivered event inserts nothing and is
    not processed again.
    """

    event_id = models.CharField(max_length=100, unique=True)
    event_type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(null=True)
    message_ref = models.CharField(max_length=100, blank=True, db_index=True)  # payload.id
    payload = models.JSONField()
    received_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED
    )
    processed_at = models.DateTimeField(null=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # When the sweep may try this event again (parked, or failed for a passing reason);
    # grows with `attempts` so a poison event cannot crowd out newer ones.
    next_attempt_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [
            models.Index(fields=["status", "received_at"]),
            models.Index(fields=["status", "next_attempt_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


# --- Carrier simulator ------------------------------------------------------------------
class SimulatorNumber(models.Model):
    """A number the simulated carrier provisioned (ordered through the simulator)."""

    e164 = models.CharField(max_length=16, unique=True)
    kind = models.CharField(max_length=10)
    mps = models.DecimalField(max_digits=7, decimal_places=2)
    state = models.CharField(max_length=2, blank=True)
    ordered_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.e164


class SimulatorOutcome(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    DELIVERY_FAILED = "delivery_failed", "Delivery failed"
    DELIVERY_UNCONFIRMED = "delivery_unconfirmed", "Delivery unconfirmed"


class SimulatorReply(models.TextChoices):
    NONE = "", "No reply"
    REPLY = "reply", "Reply"
    STOP = "stop", "STOP"


class SimulatorMessage(models.Model):
    """The simulated carrier's send log: one row per accepted send, never per attempt.

    The outcome is decided when the message is accepted, so the receipts the lifecycle
    task posts later are reproducible.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    idempotency_key = models.CharField(max_length=255, unique=True)
    from_number = models.CharField(max_length=16)
    to_number = models.CharField(max_length=16)
    text = models.TextField(blank=True)
    media_urls = models.JSONField(default=list)
    parts = models.PositiveSmallIntegerField()
    encoding = models.CharField(max_length=8)
    kind = models.CharField(max_length=10)
    accepted_at = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=SimulatorOutcome.choices)
    error_code = models.CharField(max_length=8, blank=True)
    reply = models.CharField(max_length=5, choices=SimulatorReply.choices, blank=True)

    class Meta:
        ordering = ["accepted_at"]
        indexes = [models.Index(fields=["from_number", "accepted_at"])]

    def __str__(self) -> str:
        return f"{self.from_number} -> {self.to_number} ({self.outcome})"


class SimulatorViolation(models.Model):
    """A send the simulated carrier refused because the sender exceeded its MPS.

    `count_in_window` is the number of segments the 1-second window would have held with
    this send included (so always > `limit`).
    """

    from_number = models.CharField(max_length=16)
    at = models.DateTimeField()
    count_in_window = models.PositiveIntegerField()
    limit = models.PositiveIntegerField()
    parts = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["at"]
        indexes = [models.Index(fields=["at"])]

    def __str__(self) -> str:
        return f"{self.from_number}: {self.count_in_window}/{self.limit} at {self.at:%H:%M:%S.%f}"


class SimulatorRegistration(models.Model):
    """A simulated 10DLC brand, campaign or number-to-campaign assignment."""

    class Kind(models.TextChoices):
        BRAND = "brand"
        CAMPAIGN = "campaign"
        NUMBER = "number"

    id = models.CharField(primary_key=True, max_length=40)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=255, blank=True)
    parent_id = models.CharField(max_length=40, blank=True)  # campaign -> brand, number -> campaign
    rejection_reason = models.TextField(blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.pk}"
