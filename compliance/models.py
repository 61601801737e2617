"""Consent provenance, suppression and the compliance audit trail.

All three are evidence an organisation hands over when a complaint arrives, so consent
records and audit entries are append-only (a database trigger rejects UPDATEs; see
migration 0001). The contact's current `sms_status` is kept on `contacts.Contact` for
fast filtering; these rows say how it got there.
"""

from django.conf import settings
from django.db import models

from accounts.models import Account
from contacts.models import Contact
from contacts.phones import E164_PATTERN


class ConsentSource(models.TextChoices):
    FORM = "form", "Web form"
    SURVEY = "survey", "Survey"
    CTA = "cta", "Call to action (text-in)"
    MANUAL = "manual", "Recorded by staff"
    IMPORT = "import", "List import"
    KEYWORD = "keyword", "Keyword reply"


class ConsentMethod(models.TextChoices):
    SINGLE = "single", "Single opt-in"
    DOUBLE = "double", "Double opt-in"


class ConsentAction(models.TextChoices):
    """What a consent record says happened."""

    OPT_IN = "opt_in", "Opt-in captured"  # single: opted in; double: pending
    CONFIRM = "confirm", "Double opt-in confirmed"  # the contact replied YES
    OPT_OUT = "opt_out", "Opted out"  # STOP or a plain-language request
    RE_OPT_IN = "re_opt_in", "Opted back in"  # START / UNSTOP / YES after a STOP


class ConsentRecord(models.Model):
    """One append-only consent event for a contact. The phone is copied so the record
    still names the number if the contact row is later edited."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    phone = models.CharField(max_length=16)
    action = models.CharField(max_length=10, choices=ConsentAction.choices)
    source_type = models.CharField(max_length=10, choices=ConsentSource.choices)
    source_ref = models.CharField(max_length=300, blank=True)
    consent_language = models.TextField(blank=True)
    method = models.CharField(
        max_length=6, choices=ConsentMethod.choices, default=ConsentMethod.SINGLE
    )
    captured_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    # The contact's sms_status after this record (what the record did).
    status_after = models.CharField(max_length=10)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-captured_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "-captured_at"]),
            models.Index(fields=["account", "phone"]),
        ]

    def __str__(self) -> str:
        return f"{self.phone} {self.action} @ {self.captured_at:%Y-%m-%d %H:%M}"


class DncReason(models.TextChoices):
    MANUAL = "manual", "Added by staff"
    IMPORT = "import", "CSV import"
    SPAM = "spam", "Marked as spam in the inbox"
    COMPLAINT = "complaint", "Carrier complaint"


class DncEntry(models.Model):
    """The account's do-not-contact list, by phone (a number may be on it with no
    contact record). Nothing is ever sent to a listed number, whatever the path."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=16)  # E.164
    reason = models.CharField(max_length=10, choices=DncReason.choices)
    note = models.CharField(max_length=300, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "phone"], name="one_dnc_entry_per_phone"),
            # ASCII E.164 only (contacts.phones): the list is matched by equal phones.
            models.CheckConstraint(
                condition=models.Q(phone__regex=E164_PATTERN), name="dnc_phone_ascii_e164"
            ),
        ]

    def __str__(self) -> str:
        return f"DNC {self.phone} ({self.reason})"


class AuditEntry(models.Model):
    """Append-only record of every compliance-relevant change (consent, opt-out, DNC
    added or removed), written in the same transaction as the change."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=16)
    contact_id = models.BigIntegerField(null=True, blank=True)  # plain id: survives deletion
    action = models.CharField(max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["account", "phone", "-at"])]

    def __str__(self) -> str:
        return f"{self.phone} {self.action} @ {self.at:%Y-%m-%d %H:%M}"
