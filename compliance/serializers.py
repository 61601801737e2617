from rest_framework import serializers

from .models import ConsentMethod, ConsentRecord, ConsentSource


class ConsentInputSerializer(serializers.Serializer):
    """Shape only; the rules (language per source, captured_at, overriding a STOP) live
    in compliance.consent.consent_record, so every way in applies the same ones."""

    source_type = serializers.ChoiceField(choices=ConsentSource.choices)
    source_ref = serializers.CharField(required=False, allow_blank=True, default="")
    consent_language = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=True
    )
    captured_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Defaults to now."
    )
    ip = serializers.IPAddressField(required=False, allow_null=True, allow_blank=True, default=None)
    user_agent = serializers.CharField(required=False, allow_blank=True, default="")
    method = serializers.ChoiceField(choices=ConsentMethod.choices, default=ConsentMethod.SINGLE)


class ConsentRecordSerializer(serializers.ModelSerializer):
    recorded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    contact_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = ConsentRecord
        fields = [
            "id",
            "contact_id",
            "phone",
            "action",
            "source_type",
            "source_ref",
            "consent_language",
            "method",
            "captured_at",
            "ip",
            "user_agent",
            "status_after",
            "recorded_by",
            "created_at",
        ]
        read_only_fields = fields


class ConsentCreatedSerializer(ConsentRecordSerializer):
    """The new record and the contact's status after it."""

    sms_status = serializers.CharField(read_only=True)

    class Meta(ConsentRecordSerializer.Meta):
        fields = [*ConsentRecordSerializer.Meta.fields, "sms_status"]
        read_only_fields = fields
