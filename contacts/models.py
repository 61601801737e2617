from django.conf import settings
from django.db import models

from accounts.models import Account

from .phones import E164_PATTERN


class Pool(models.TextChoices):
    CONTACT = "contact", "Contact"  # people who gave us their number (relationship)
    VOTER = "voter", "Voter"  # voter-file records (campaign mode, no consent by default)


class SmsStatus(models.TextChoices):
    NONE = "none", "No consent on file"
    PENDING = "pending", "Double opt-in pending"
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"


class TimezoneSource(models.TextChoices):
    ADDRESS = "address", "ZIP / state"
    PHONE = "phone", "Phone area code"
    ACCOUNT_DEFAULT = "account_default", "Account default (unknown)"


# Custom fields (API and forms; issue 14): how many a contact has, and how long a name
# and a text value may be. Values are text, numbers, true/false or null, never nested.
MAX_CUSTOM_FIELDS = 50
MAX_CUSTOM_KEY = 40
MAX_CUSTOM_VALUE = 500


class Contact(models.Model):
    """A recipient's record, one per phone per account."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    phone = models.CharField(max_length=16)  # E.164
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    preferred_name = models.CharField(max_length=100, blank=True)
    street = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=2, blank=True)
    zip = models.CharField(max_length=10, blank=True)
    pool = models.CharField(max_length=10, choices=Pool.choices, default=Pool.CONTACT)
    custom_fields = models.JSONField(default=dict, blank=True)
    # `timezone` is the best single guess; `timezone_candidates` keeps every zone the
    # data allows (split area codes, multi-zone states) so quiet hours can apply the
    # most restrictive one. `timezone_source` says where the guess came from.
    timezone = models.CharField(max_length=64)
    timezone_candidates = models.JSONField(default=list, blank=True)
    timezone_source = models.CharField(max_length=16, choices=TimezoneSource.choices)
    # Current consent state, kept here for fast filtering; the compliance app owns it
    # and its append-only consent records are the provenance.
    sms_status = models.CharField(max_length=10, choices=SmsStatus.choices, default=SmsStatus.NONE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "phone"], name="one_contact_per_phone_per_account"
            ),
            # One spelling per number (ASCII E.164, contacts.phones): a `+15035５50189`
            # twin would escape the real number's opt-out and DNC entry.
            models.CheckConstraint(
                condition=models.Q(phone__regex=E164_PATTERN), name="contact_phone_ascii_e164"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "sms_status"]),
            models.Index(fields=["account", "state"]),
            models.Index(fields=["account", "last_name", "first_name"]),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        first = self.preferred_name or self.first_name
        name = f"{first} {self.last_name}".strip()
        return name or self.phone

    @property
    def timezone_is_default(self) -> bool:
        return self.timezone_source == TimezoneSource.ACCOUNT_DEFAULT


class EventType(models.TextChoices):
    SMS_SENT = "sms_sent", "SMS sent"
    SMS_DELIVERED = "sms_delivered", "SMS delivered"
    SMS_FAILED = "sms_failed", "SMS failed"
    SMS_RECEIVED = "sms_received", "SMS received"
    SMS_OPT_OUT = "sms_opt_out", "Opted out"
    SMS_OPT_IN = "sms_opt_in", "Opted in"
    LINK_CLICK = "link_click", "Link clicked"


class EngagementEvent(models.Model):
    """Append-only engagement history. A database trigger rejects UPDATEs."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=20, choices=EventType.choices)
    # Plain id, not a foreign key: campaigns live in `texting`, above this app.
    campaign_id = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField(db_index=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["contact", "-at"]),
            models.Index(fields=["account", "type", "-at"]),
            # Per-campaign counts on the live Status tab (opted out, replied).
            models.Index(
                fields=["campaign_id", "type"],
                condition=models.Q(campaign_id__isnull=False),
                name="event_campaign_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} @ {self.at:%Y-%m-%d %H:%M}"


class TribeMode(models.TextChoices):
    RELATIONSHIP = "relationship", "Relationship"
    CAMPAIGN = "campaign", "Campaign"
    CROSS = "cross", "Cross-mode"


class TribeKind(models.TextChoices):
    FILTER = "filter", "Saved filter"  # members are whoever matches `filter`, now
    LIST = "list", "List"  # members were pasted or imported (TribeMember rows)


class Tribe(models.Model):
    """A saved audience: a filter in API.md's language, evaluated in SQL when used, or a
    static list of contacts (pasted numbers, a CSV import)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tribes")
    name = models.CharField(max_length=200)
    mode = models.CharField(max_length=12, choices=TribeMode.choices, default=TribeMode.CROSS)
    kind = models.CharField(max_length=6, choices=TribeKind.choices, default=TribeKind.FILTER)
    filter = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="one_tribe_name_per_account")
        ]

    def __str__(self) -> str:
        return self.name


class TribeMember(models.Model):
    """A contact on a list Tribe."""

    tribe = models.ForeignKey(Tribe, on_delete=models.CASCADE, related_name="members")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tribe", "contact"], name="one_membership_per_tribe")
        ]
        indexes = [models.Index(fields=["contact"])]

    def __str__(self) -> str:
        return f"{self.contact_id} in tribe {self.tribe_id}"


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ContactImport(models.Model):
    """A CSV (or pasted) import, processed in the background with progress (API.md
    `POST /api/v1/contacts/import/`, `GET /api/v1/imports/{id}/`)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=255, blank=True)
    pool = models.CharField(max_length=10, choices=Pool.choices, default=Pool.CONTACT)
    # The uploaded bytes, kept until processed (a worker may run on another host).
    data = models.BinaryField(null=True, blank=True)
    # The list Tribe the imported contacts join, if the user asked for one.
    tribe = models.ForeignKey(
        Tribe, null=True, blank=True, on_delete=models.SET_NULL, related_name="imports"
    )
    status = models.CharField(
        max_length=8, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{row, reason}]
    failure = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"
