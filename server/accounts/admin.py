from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from server.accounts import services
from server.accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """The phone app's sign-ins: who, since when, until when; revoke one to sign that phone out."""

    list_display = ("id", "user", "label", "created_at", "last_used_at", "expires_at", "revoked_at", "revoked_reason")
    list_filter = ("revoked_at",)
    search_fields = ("user__username",)
    readonly_fields = (
        "user",
        "key_hash",
        "label",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "revoked_reason",
    )
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are issued by logging in (POST /api/auth/token)

    @admin.action(description="Revoke (sign the phone out)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            services.api_token_revoke(token=token, reason=f"revoked by {request.user}")
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)
