from rest_framework import serializers

from .geo import STATE_ZONES
from .models import (
    MAX_CUSTOM_FIELDS,
    MAX_CUSTOM_KEY,
    MAX_CUSTOM_VALUE,
    Contact,
    EngagementEvent,
    Pool,
)
from .phones import InvalidPhone, normalize_phone


class ContactInputSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=40)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    preferred_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    street = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    state = serializers.CharField(max_length=2, required=False, allow_blank=True)
    zip = serializers.RegexField(r"^\d{5}(-\d{4})?$", required=False, allow_blank=True)
    pool = serializers.ChoiceField(choices=Pool.choices, required=False)
    custom_fields = serializers.DictField(required=False)

    def validate_phone(self, value: str) -> str:
        try:
            return normalize_phone(value)
        except InvalidPhone as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_state(self, value: str) -> str:
        value = value.strip().upper()
        if value and value not in STATE_ZONES:
            raise serializers.ValidationError(f"'{value}' is not a US state or territory code.")
        return value

    def validate_custom_fields(self, value: dict) -> dict:
        if len(value) > MAX_CUSTOM_FIELDS:
            raise serializers.ValidationError(
                f"A contact has at most {MAX_CUSTOM_FIELDS} custom fields ({len(value)} given)."
            )
        for key, item in value.items():
            if not key or not str(key).replace("_", "").isalnum():
                raise serializers.ValidationError(
                    f"Custom field name '{key}' may only contain letters, digits and underscores."
                )
            if len(key) > MAX_CUSTOM_KEY:
                raise serializers.ValidationError(
                    f"Custom field name '{key[:20]}…' is longer than {MAX_CUSTOM_KEY} characters."
                )
            if isinstance(item, dict | list):
                raise serializers.ValidationError(
                    f"Custom field '{key}' holds a list or object: give text, a number,"
                    " true/false or null."
                )
            if isinstance(item, str) and len(item) > MAX_CUSTOM_VALUE:
                raise serializers.ValidationError(
                    f"Custom field '{key}' is longer than {MAX_CUSTOM_VALUE} characters."
                )
        return value


class ContactSerializer(serializers.ModelSerializer):
    timezone_is_default = serializers.BooleanField(read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "phone",
            "first_name",
            "last_name",
            "preferred_name",
            "street",
            "city",
            "state",
            "zip",
            "pool",
            "custom_fields",
            "timezone",
            "timezone_candidates",
            "timezone_source",
            "timezone_is_default",
            "sms_status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EngagementEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = EngagementEvent
        fields = ["id", "type", "campaign_id", "at", "data"]
        read_only_fields = fields
