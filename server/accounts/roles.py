"""Who may do what. Roles are Django groups named after ``Role`` values; superusers may do all."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from server.accounts.models import Role
from server.common.exceptions import PermissionDenied


def has_role(user: User | AnonymousUser, *roles: Role) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return not _group_names(user).isdisjoint(role.value for role in roles)


def _group_names(user: User | AnonymousUser) -> frozenset[str]:
    """The user's groups, read once per user object (one request: auth loads a fresh one)."""
    names = getattr(user, "_fixroute_groups", None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True))  # type: ignore[union-attr]
        user._fixroute_groups = names  # type: ignore[union-attr]
    return names


def require_staff(user: User | AnonymousUser) -> None:
    """Call-center staff and dispatchers manage work orders; technicians only their own."""
    if not has_role(user, Role.CALL_CENTER, Role.DISPATCHER):
        raise PermissionDenied("Only call-center staff and dispatchers may do this")
