"""The outbox in the admin: read and search. Rows are written only by the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from notifications.models import InboundSms, OptOut, SmsMessage

# Delivery state is owned by notifications.services; the admin never edits it.
STATE_FIELDS = (
    "status",
    "provider",
    "provider_message_id",
    "attempts",
    "error",
    "idempotency_key",
    "created_at",
    "updated_at",
    "sent_at",
    "delivery_status",
    "delivery_error",
    "delivery_at",
    "urgent",
    "visit_key",
    "template_params",
    "resent",
    "checked_at",
)


@admin.register(SmsMessage)
class SmsMessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "to",
        "kind",
        "language",
        "status",
        "provider",
        "attempts",
        "delivery_status",
        "created_at",
        "sent_at",
    )
    # Status "Unknown (check with the provider)" lists what reconciliation could not settle.
    list_filter = ("status", "delivery_status", "kind", "provider", "language")
    search_fields = ("to", "provider_message_id", "idempotency_key")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is not None and obj.status != SmsMessage.Status.QUEUED:
            # Sending, sent or failed: the row is the record of what went out.
            return tuple(field.name for field in SmsMessage._meta.fields)
        return STATE_FIELDS


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    list_display = ("phone", "source", "keyword", "created_at")
    search_fields = ("phone",)
    list_filter = ("source",)
    readonly_fields = ("created_at",)


@admin.register(InboundSms)
class InboundSmsAdmin(admin.ModelAdmin):
    list_display = ("id", "from_phone", "provider", "received_at", "handled_at", "outcome")
    list_filter = ("provider", ("handled_at", admin.EmptyFieldListFilter))
    search_fields = ("from_phone", "provider_message_id", "body")
    date_hierarchy = "received_at"
    ordering = ("-received_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return tuple(field.name for field in InboundSms._meta.fields)
