from rest_framework import serializers

from contacts.phones import InvalidPhone, normalize_phone, try_normalize_phone
from phone_numbers.selectors import number_list


class SimulatorInboundSerializer(serializers.Serializer):
    """`{from, to, text}`: `from` any typed phone; `to` one of the account's numbers."""

    to = serializers.CharField()
    text = serializers.CharField(max_length=1600, trim_whitespace=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.CharField()  # `from` is a Python keyword
        return fields

    def validate_from(self, value: str) -> str:
        try:
            return normalize_phone(value)
        except InvalidPhone as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_to(self, value: str) -> str:
        e164 = try_normalize_phone(value) or value.strip()
        if not number_list(account=self.context["account"]).filter(e164=e164).exists():
            raise serializers.ValidationError(f"{value} is not one of this account's numbers.")
        return e164

    def validate_text(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value


class SimulatorInboundResultSerializer(serializers.Serializer):
    event_id = serializers.CharField()
