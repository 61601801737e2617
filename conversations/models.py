"""Threads: one conversation per (account, contact, our number).

The messages themselves are `texting.Message` rows, both directions (outbound campaign
messages and replies, inbound texts), found by the phone pair: outbound `from_number` =
our number and `to_number` = the contact's phone, inbound the other way round. A
conversation row is the inbox's index over them: who, which number, its state, who
holds it, and what the inbox sorts and filters on (last activity, unread), kept current
as messages come and go.
"""

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models

from accounts.models import Account
from contacts.models import Contact


class ConversationStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    SNOOZED = "snoozed", "Snoozed"
    SPAM = "spam", "Spam"


class ConversationLabel(models.TextChoices):
    NONE = "", "—"
    UNKNOWN_SENDER = "unknown_sender", "Unknown sender"  # the phone had no contact record
    UNATTACHED = "unattached", "Unattached"  # our number is on no active campaign


class Conversation(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=16)  # the contact's, E.164 (copied: the pair is the key)
    our_number = models.CharField(max_length=16)  # E.164 of our sender
    # The campaign that started it (plain id: campaigns live in texting, below).
    campaign_id = models.BigIntegerField(null=True, blank=True)
    label = models.CharField(
        max_length=16, choices=ConversationLabel.choices, default="", blank=True
    )
    status = models.CharField(
        max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.OPEN
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    snooze_until = models.DateTimeField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    unread = models.PositiveIntegerField(default=0)  # inbound messages nobody has opened
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_preview = models.CharField(max_length=160, blank=True)
    # The words of the thread's inbound texts and staff replies, as one stripped
    # tsvector (lexemes, no positions: a set, so it grows with the thread's vocabulary,
    # not its length), appended to by conversations.services as messages come and go.
    # The inbox's keyword search reads it through a GIN index: one row per thread
    # instead of every matching message (docs/benchmarks.md, inbox).
    search = SearchVectorField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_inbound_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "contact", "our_number"], name="one_conversation_per_pair"
            )
        ]
        indexes = [
            # The inbox: newest reply first, by status; and "assigned to me".
            models.Index(fields=["account", "status", "-last_inbound_at"]),
            models.Index(fields=["account", "assigned_to", "-last_inbound_at"]),
            models.Index(fields=["account", "campaign_id", "-last_inbound_at"]),
            # The unfiltered inbox (admin, viewer): its first page straight off the index.
            models.Index(fields=["account", "-last_inbound_at", "-id"], name="conversation_inbox"),
            # Keyword search over what was written in the thread (`search`).
            GinIndex(fields=["search"], name="conversation_search"),
            models.Index(
                fields=["snooze_until"],
                condition=models.Q(status="snoozed"),
                name="conversation_snoozed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phone} ↔ {self.our_number}"


class AssignmentRecord(models.Model):
    """Append-only history of who held a conversation."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="assignments"
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"conversation {self.conversation_id} → {self.assigned_to_id}"


class Macro(models.Model):
    """A saved reply."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    body = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="one_macro_name_per_account")
        ]

    def __str__(self) -> str:
        return self.name
