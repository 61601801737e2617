import datetime
import uuid

from django.conf import settings
from django.db import models

from accounts.models import Account
from compliance import eligibility
from contacts.models import Contact


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELED = "canceled", "Canceled"
    FAILED = "failed", "Failed"
    ARCHIVED = "archived", "Archived"


# The campaign state machine, in one place (texting.services.campaign_transition
# enforces it). Final states only move to archived.
CAMPAIGN_TRANSITIONS: dict[str, frozenset[str]] = {
    CampaignStatus.DRAFT: frozenset(
        {CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.ARCHIVED}
    ),
    CampaignStatus.SCHEDULED: frozenset(
        {CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.CANCELED}
    ),
    CampaignStatus.SENDING: frozenset(
        {
            CampaignStatus.PAUSED,
            CampaignStatus.COMPLETED,
            CampaignStatus.CANCELED,
            CampaignStatus.FAILED,
        }
    ),
    CampaignStatus.PAUSED: frozenset(
        {CampaignStatus.SENDING, CampaignStatus.SCHEDULED, CampaignStatus.CANCELED}
    ),
    CampaignStatus.COMPLETED: frozenset({CampaignStatus.ARCHIVED}),
    CampaignStatus.CANCELED: frozenset({CampaignStatus.ARCHIVED}),
    CampaignStatus.FAILED: frozenset({CampaignStatus.ARCHIVED}),
    CampaignStatus.ARCHIVED: frozenset(),
}


class CampaignMode(models.TextChoices):
    RELATIONSHIP = "relationship", "Relationship (opted-in contacts)"
    CAMPAIGN = "campaign", "Campaign (voters, manual sends)"


class SendMode(models.TextChoices):
    NOW = "now", "Send now"
    SCHEDULE = "schedule", "Schedule"


# Field limits (API and the campaign form; issue 14).
MAX_DESCRIPTION = 2000
MAX_TAGS, MAX_TAG_LENGTH = 20, 50


class Campaign(models.Model):
    """A send to an audience. Status moves only along CAMPAIGN_TRANSITIONS."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    mode = models.CharField(
        max_length=12, choices=CampaignMode.choices, default=CampaignMode.RELATIONSHIP
    )
    body = models.TextField(blank=True)
    media_ids = models.JSONField(default=list, blank=True)
    # PhoneNumber ids of the sender pool (numbers live in an app above; ids, not FKs).
    sender_ids = models.JSONField(default=list, blank=True)
    local_presence = models.BooleanField(default=False)
    # {"contact_ids": [...]}, {"phones": [...]}, {"tribe_id": ID} or {"filter": {...}}
    audience = models.JSONField(default=dict, blank=True)
    exclusions = models.JSONField(default=dict, blank=True)
    compliance = models.JSONField(default=dict, blank=True)
    stop_language = models.CharField(max_length=160, blank=True)  # blank: the account's
    send_mode = models.CharField(max_length=10, choices=SendMode.choices, default=SendMode.NOW)
    schedule_at = models.DateTimeField(null=True, blank=True)
    recipient_local_time = models.BooleanField(default=False)
    max_mps = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    # Segments x price by sender kind, computed at commit (USD).
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    status_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    send_started = models.DateTimeField(null=True, blank=True)
    send_completed = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "status"])]

    def __str__(self) -> str:
        return self.name


class Direction(models.TextChoices):
    OUTBOUND = "outbound", "Outbound"
    INBOUND = "inbound", "Inbound"


class MessageStatus(models.TextChoices):
    """queued/scheduled -> sending -> sent -> delivered | failed; queued/scheduled ->
    canceled; received is inbound. A status only moves forward (receipts arriving late
    or twice never move it back)."""

    QUEUED = "queued", "Queued"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    RECEIVED = "received", "Received"


# The due time of messages that answer a person (keyword confirmations, HELP replies):
# the dispatcher drains each sender's queue in (send_after, id) order, so a due time
# before any bulk row's puts them ahead of a campaign's backlog on the same number. A
# STOP confirmation is due within 5 minutes (compliance.md §1.4); behind a 100k-row
# backlog on one long code it would wait hours.
PRIORITY_SEND_AFTER = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


class MessageKind(models.TextChoices):
    """What an outbound message is, when it is a reply to an inbound keyword or a double
    opt-in's request to reply YES (an ordinary message, campaign or one-to-one, has no
    kind). compliance.eligibility
    decides which kinds may reach an opted-out number."""

    OPT_OUT_CONFIRMATION = eligibility.OPT_OUT_CONFIRMATION, "STOP confirmation"
    HELP_REPLY = eligibility.HELP_REPLY, "HELP reply"
    OPT_IN_CONFIRMATION = eligibility.OPT_IN_CONFIRMATION, "START confirmation"
    CONFIRMATION_REQUEST = eligibility.CONFIRMATION_REQUEST, "Double opt-in request"


class Message(models.Model):
    """One SMS/MMS, both ways. Outbound rows are the send queue: workers claim due rows
    per sender with FOR UPDATE SKIP LOCKED (see the partial index `message_due`)."""

    # This is the send queue, written 100k rows per commit, so every index and trigger
    # is paid per recipient (docs/benchmarks.md, commit):
    # - No single-column indexes on account, campaign or contact: `message_to_recent`
    #   and `message_campaign_status` lead with the first two, and nothing looks
    #   messages up by contact id (a person's messages are found by phone).
    # - No database foreign keys: the RI triggers cost 1.9 s of a 100k-row commit
    #   (200k checks at COMMIT; performance.md §3). Rows are only written by the
    #   commit, which reads the contacts and locks the campaign in the same
    #   transaction, and by services that hold the account; deleting an account or a
    #   campaign still cascades through Django's collector (on_delete=CASCADE).
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    campaign = models.ForeignKey(
        Campaign,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,
        db_constraint=False,
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    direction = models.CharField(
        max_length=8, choices=Direction.choices, default=Direction.OUTBOUND
    )
    from_number = models.CharField(max_length=16)
    to_number = models.CharField(max_length=16)
    body = models.TextField()
    segments = models.PositiveSmallIntegerField(default=1)
    encoding = models.CharField(max_length=6, default="GSM-7")
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    # Null for every ordinary message, so the commit neither writes nor pays for it.
    kind = models.CharField(max_length=24, choices=MessageKind.choices, null=True, blank=True)
    send_after = models.DateTimeField()
    send_by = models.DateTimeField(null=True, blank=True)  # not sent by then: fails as expired
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Sent with every attempt so the provider replays rather than re-sends. Random (v4):
    # no index, since nothing looks a message up by it, and a unique index on random
    # keys is the costliest one to write on a 100k-row commit.
    idempotency_key = models.UUIDField(default=uuid.uuid4)
    # Unique through Meta.constraints: `unique=True` would add a second, LIKE-only index.
    provider_message_id = models.CharField(max_length=100, null=True, blank=True)
    # Null (no default) unless set, so the commit neither writes nor pays for them:
    # `media_ids` are the Media attached to a one-to-one reply (a campaign message's are
    # its campaign's); `media` is what an inbound MMS carried, as the provider gave it.
    media_ids = models.JSONField(null=True, blank=True)
    media = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=20, blank=True)
    error_reason = models.CharField(max_length=300, blank=True)
    cost = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)  # carrier's
    # What we debited from the account for it (texting.pricing); null: not charged.
    charged = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A retried commit inserts nothing twice (ON CONFLICT ... DO NOTHING).
            models.UniqueConstraint(
                fields=["campaign", "contact"],
                condition=models.Q(campaign__isnull=False),
                name="one_message_per_campaign_contact",
            ),
            # Partial: a committed row has no provider id yet, so the commit writes no
            # entry here; `provider_message_id = x` lookups still use it.
            models.UniqueConstraint(
                fields=["provider_message_id"],
                condition=models.Q(provider_message_id__isnull=False),
                name="message_provider_message_id_unique",
            ),
        ]
        indexes = [
            # "Due messages for sender X": only queued rows are indexed, so the index
            # stays small as a campaign drains.
            models.Index(
                fields=["from_number", "send_after", "id"],
                condition=models.Q(status="queued"),
                name="message_due",
            ),
            models.Index(
                fields=["send_after"],
                condition=models.Q(status="scheduled"),
                name="message_scheduled",
            ),
            models.Index(
                fields=["lease_until"], condition=models.Q(status="sending"), name="message_leased"
            ),
            models.Index(fields=["campaign", "status"], name="message_campaign_status"),
            models.Index(fields=["account", "to_number", "-created_at"], name="message_to_recent"),
            # A thread's inbound side (conversations.selectors.thread_messages): what a
            # phone wrote to us, newest first. Partial: the commit writes no entry.
            models.Index(
                fields=["account", "from_number", "-created_at"],
                condition=models.Q(direction="inbound"),
                name="message_from_recent_inbound",
            ),
            # Full-text search over what people wrote and what staff answered:
            # GIN on to_tsvector('simple', body) WHERE campaign_id IS NULL, created by
            # migration 0008 (raw SQL: the expression must match the inbox's query
            # exactly). Campaign rows are outside the predicate, so a 100k-row commit
            # writes no entry (a campaign's text is searched through the campaign).
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.to_number} {self.status}"


class CampaignLink(models.Model):
    """A long URL found in a campaign's body, registered once at commit (texting.links).

    Each recipient gets their own short link for it, derived from this row's id and the
    contact's id with an HMAC tag: no row per recipient (a 100k commit writes the codes
    into the message bodies in the same INSERT). A click is an `link_click` history
    event; the counts are read from the history (`event_campaign_type` index).
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="links")
    url = models.TextField()
    position = models.PositiveSmallIntegerField()  # order of first appearance in the body
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "url"], name="campaign_link_unique_url"),
        ]

    def __str__(self) -> str:
        return self.url


class MediaKind(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"
    VCARD = "vcard", "vCard"


def media_upload_to(instance: "Media", filename: str) -> str:
    return f"mms/{instance.account_id}/{filename}"


class Media(models.Model):
    """An MMS attachment as stored (after sniffing and, for images, fitting under the
    provider's size limit: texting.media). Served to the provider only through signed,
    expiring URLs; deleted after MMS_MEDIA_RETENTION_DAYS by a periodic task."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=MediaKind.choices)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()  # bytes, as stored
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to=media_upload_to, max_length=300)
    original_name = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)  # the cleanup's scan

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"], name="media_account_recent")]

    def __str__(self) -> str:
        return self.original_name or f"media {self.pk}"


class MessageTemplate(models.Model):
    """A saved message: its owner's, or shared with the account. Starter templates
    (`starter_key` set, no owner) are seeded per account (texting.message_templates)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    body = models.TextField(blank=True)
    media_ids = models.JSONField(default=list, blank=True)
    shared = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    starter_key = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "created_by", "name"],
                condition=models.Q(created_by__isnull=False),
                name="template_unique_name_per_owner",
            ),
            # Seeding is idempotent: one row per starter per account.
            models.UniqueConstraint(
                fields=["account", "starter_key"],
                condition=~models.Q(starter_key=""),
                name="template_unique_starter",
            ),
        ]
        indexes = [models.Index(fields=["account", "shared"], name="template_account_shared")]

    def __str__(self) -> str:
        return self.name
