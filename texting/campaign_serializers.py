from decimal import Decimal

from rest_framework import serializers

from compliance import rules
from contacts.filters import FilterError, filter_validate
from contacts.models import Tribe

from . import merge
from .models import (
    MAX_DESCRIPTION,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    Campaign,
    CampaignMode,
    Message,
    SendMode,
)
from .services import EDITABLE_FIELDS


class AudienceField(serializers.JSONField):
    KINDS = ("tribe_id", "filter", "contact_ids", "phones")

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if not isinstance(data, dict) or len(data) != 1 or next(iter(data)) not in self.KINDS:
            raise serializers.ValidationError(
                'Give exactly one of {"tribe_id"}, {"filter"}, {"contact_ids"}, {"phones"}.'
            )
        ((kind, value),) = data.items()
        if kind in ("contact_ids", "phones") and not isinstance(value, list):
            raise serializers.ValidationError(f"{kind} must be a list.")
        if kind == "contact_ids" and not all(isinstance(i, int) for i in value):
            raise serializers.ValidationError("contact_ids must be a list of integer ids.")
        if kind == "phones" and len(value) > 10_000:
            raise serializers.ValidationError("Paste at most 10,000 phone numbers.")
        return data


class CampaignInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_DESCRIPTION
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=MAX_TAG_LENGTH),
        max_length=MAX_TAGS,
        required=False,
    )
    mode = serializers.ChoiceField(choices=CampaignMode.choices, required=False)
    body = serializers.CharField(
        required=False, allow_blank=True, max_length=1600, trim_whitespace=False
    )
    media_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    sender_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    local_presence = serializers.BooleanField(required=False)
    audience = AudienceField(required=False)
    stop_language = serializers.CharField(required=False, allow_blank=True, max_length=160)
    exclusions = serializers.DictField(required=False)
    compliance = serializers.DictField(required=False)

    def validate_audience(self, value: dict) -> dict:
        """A Tribe of this account, or a filter valid for it (the error names its path,
        `filter.all[2].op`)."""
        account = self.context["account"]
        if "tribe_id" in value:
            tribe_id = value["tribe_id"]
            whole = isinstance(tribe_id, int) and not isinstance(tribe_id, bool)
            if not whole or not Tribe.objects.filter(account=account, pk=tribe_id).exists():
                raise serializers.ValidationError({"tribe_id": "No such Tribe in this account."})
        if "filter" in value:
            try:
                filter_validate(value["filter"], account=account)
            except FilterError as exc:
                raise serializers.ValidationError({exc.path: exc.message}) from exc
        return value

    def validate(self, attrs: dict) -> dict:
        """A Tribe audience must suit the campaign's mode (texting.audience.
        tribe_mode_problem: refused, not warned about)."""
        tribe_id = (attrs.get("audience") or {}).get("tribe_id")
        campaign = self.context.get("campaign")
        mode = attrs.get("mode") or (campaign.mode if campaign else CampaignMode.RELATIONSHIP)
        if tribe_id is None and campaign is not None and "mode" in attrs:
            tribe_id = (campaign.audience or {}).get("tribe_id")
        if tribe_id is not None:
            from .audience import tribe_mode_problem

            tribe = Tribe.objects.filter(account=self.context["account"], pk=tribe_id).first()
            problem = tribe and tribe_mode_problem(tribe_mode=tribe.mode, campaign_mode=mode)
            if problem:
                raise serializers.ValidationError({"audience": {"tribe_id": problem}})
        return attrs

    def validate_body(self, value: str) -> str:
        errors = merge.validate(value)
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate_exclusions(self, value: dict) -> dict:
        """`{"messaged_within_hours": N}` (1–8760), `{"replied_to_campaign": ID}` (a
        campaign of this account) and `{"excluded_tribe_ids": [ID, ...]}` (Tribes of this
        account: their members are left out, as `excluded_tribe`); anything else is
        refused, naming the key."""
        errors: dict[str, str] = {}
        for key, item in value.items():
            whole = isinstance(item, int) and not isinstance(item, bool)
            if key == "excluded_tribe_ids":
                account = self.context["account"]
                ids = item if isinstance(item, list) else None
                if (
                    ids is None
                    or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
                    or Tribe.objects.filter(account=account, pk__in=ids).count() != len(set(ids))
                ):
                    errors[key] = "Give a list of ids of this account's Tribes."
            elif key == "messaged_within_hours":
                if not whole or not 1 <= item <= 8760:
                    errors[key] = "Give a whole number of hours from 1 to 8760."
            elif key == "replied_to_campaign":
                account = self.context["account"]
                if not whole or not Campaign.objects.filter(account=account, pk=item).exists():
                    errors[key] = "Give the id of one of this account's campaigns."
            else:
                errors[key] = (
                    "Unknown exclusion (messaged_within_hours, replied_to_campaign, "
                    "excluded_tribe_ids)."
                )
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate_compliance(self, value: dict) -> dict:
        """`{"frequency_cap": {"messages", "days"}}`, `{"unverified_state_rules": bool}`
        (compliance.rules)."""
        errors = rules.cap_config_errors(value)
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate_media_ids(self, value: list[int]) -> list[int]:
        """This account's media, at most 10, under the MMS size limit together."""
        from .media import MediaError, media_validate_ids

        try:
            return media_validate_ids(account=self.context["account"], media_ids=value)
        except MediaError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_sender_ids(self, value: list[int]) -> list[int]:
        account = self.context["account"]
        owned = set(account.phone_numbers.filter(pk__in=value).values_list("pk", flat=True))
        missing = [i for i in value if i not in owned]
        if missing:
            raise serializers.ValidationError(f"Not numbers of this account: {missing}.")
        return list(dict.fromkeys(value))


class CampaignSerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = [
            "id",
            *EDITABLE_FIELDS,
            "send_mode",
            "schedule_at",
            "recipient_local_time",
            "max_mps",
            "estimated_cost",
            "status",
            "status_reason",
            "created_at",
            "committed_at",
            "send_started",
            "send_completed",
        ]
        read_only_fields = fields


class CommitSerializer(serializers.Serializer):
    send_mode = serializers.ChoiceField(choices=SendMode.choices, default=SendMode.NOW)
    schedule_at = serializers.DateTimeField(required=False, allow_null=True)
    recipient_local_time = serializers.BooleanField(default=False)


class ThrottleSerializer(serializers.Serializer):
    max_mps = serializers.DecimalField(max_digits=7, decimal_places=2, min_value=Decimal("0.01"))


class CampaignStatusSerializer(serializers.Serializer):
    status = serializers.CharField()
    selected = serializers.IntegerField()
    queued = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    opted_out = serializers.IntegerField()
    replied = serializers.IntegerField()
    progress = serializers.FloatField()
    eta = serializers.DateTimeField(allow_null=True)


class MessageRowSerializer(serializers.ModelSerializer):
    phone = serializers.CharField(source="to_number")
    error = serializers.CharField(source="error_reason")

    class Meta:
        model = Message
        fields = [
            "id",
            "contact_id",
            "phone",
            "status",
            "from_number",
            "sent_at",
            "delivered_at",
            "error",
        ]
        read_only_fields = fields


class AuditSerializer(serializers.Serializer):
    """GET .../audit/: the campaign's audience, classified right now."""

    total = serializers.IntegerField()
    eligible = serializers.IntegerField()
    excluded = serializers.DictField(child=serializers.IntegerField())


class TechCheckItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    ok = serializers.BooleanField()
    message = serializers.CharField()
    remediation = serializers.CharField(help_text="What to do about it; blank when ok.")


class TechCheckSerializer(serializers.Serializer):
    """GET .../tech-check/: every pre-send check, the final text and what it costs."""

    ok = serializers.BooleanField()
    checks = TechCheckItemSerializer(many=True)
    segments = serializers.IntegerField()
    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"])
    characters = serializers.IntegerField()
    final_body = serializers.CharField()
    samples = serializers.ListField(child=serializers.CharField())
    estimated_cost = serializers.DecimalField(max_digits=12, decimal_places=4)
    balance = serializers.DecimalField(max_digits=12, decimal_places=4)
    estimated_duration_seconds = serializers.IntegerField(allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField())


class PreflightFailedSerializer(serializers.Serializer):
    """The commit's 422: the checks that failed, each with its reason and remedy."""

    detail = serializers.CharField()
    checks = TechCheckItemSerializer(many=True)
