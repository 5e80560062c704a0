from __future__ import annotations

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    """Roles are Django groups of these names; the group decides what a user may see."""

    AGENT = "agent", "Call-center agent"
    DISPATCHER = "dispatcher", "Dispatcher"
    SUPERVISOR = "supervisor", "Supervisor"
    ADMIN = "admin", "Administrator"
    TECHNICIAN = "technician", "Technician"


# Roles that work in the staff console and the staff API (technicians use the app only).
STAFF_ROLES = (Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)


class ApiToken(models.Model):
    """A bearer token for the API (the technician app). Only a SHA-256 of the key is stored.

    A token is good until ``expires_at`` (API_TOKEN_TTL_HOURS after it was issued) unless it was
    revoked first: by logging out, by a password change or by deactivating the user. Revoked
    tokens are kept (not deleted) so the admin shows when and why a phone was signed out.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"], name="apitoken_user_live")]

    def __str__(self) -> str:
        return f"token for {self.user} ({self.label or 'api'})"
