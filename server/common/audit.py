"""The audit log of personal data: who viewed, exported, imported, erased or changed it."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from server.common.models import AuditAction, AuditEntry


def audit_record(
    *, user: User | AnonymousUser | None, action: AuditAction, what: str, customer_id: int | None = None
) -> AuditEntry:
    """Write one entry (inside the caller's transaction, so a rolled-back export leaves none)."""
    account = user if isinstance(user, User) else None
    return AuditEntry.objects.create(
        user=account,
        username=account.get_username() if account is not None else "",
        action=action,
        customer_id=customer_id,
        what=what[:200],
    )
