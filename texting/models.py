from django.conf import settings
from django.db import models

from accounts.models import Account


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELED = "canceled", "Canceled"
    FAILED = "failed", "Failed"
    ARCHIVED = "archived", "Archived"


class CampaignMode(models.TextChoices):
    RELATIONSHIP = "relationship", "Relationship (opted-in contacts)"
    CAMPAIGN = "campaign", "Campaign (voters, manual sends)"


class Campaign(models.Model):
    """A send to an audience. Only drafts exist until the send engine lands (issue 3),
    which adds the body, audience, senders, schedule and the status machine."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    mode = models.CharField(
        max_length=12, choices=CampaignMode.choices, default=CampaignMode.RELATIONSHIP
    )
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "status"])]

    def __str__(self) -> str:
        return self.name
