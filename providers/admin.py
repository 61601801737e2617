from django.contrib import admin

from .models import SimulatorMessage, SimulatorNumber, SimulatorViolation, WebhookEvent


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "event_type", "status", "message_ref", "received_at", "attempts"]
    list_filter = ["status", "event_type"]
    search_fields = ["event_id", "message_ref"]
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]


@admin.register(SimulatorMessage)
class SimulatorMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "from_number", "to_number", "parts", "outcome", "accepted_at"]
    list_filter = ["outcome"]


admin.site.register(SimulatorNumber)
admin.site.register(SimulatorViolation)
