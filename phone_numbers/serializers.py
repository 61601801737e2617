from rest_framework import serializers

from .models import PhoneNumber


class PhoneNumberSerializer(serializers.ModelSerializer):
    health = serializers.SerializerMethodField()

    class Meta:
        model = PhoneNumber
        fields = ["id", "e164", "kind", "status", "state", "mps", "registration_status", "health"]
        read_only_fields = fields

    def get_health(self, obj) -> dict:
        # Health is computed from message history once the send engine records it.
        return {"delivery_rate": None, "opt_out_rate": None, "complaint_rate": None}
