"""Who may do what. Roles are Django groups named after ``Role`` values; superusers may do all."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from server.accounts.models import STAFF_ROLES, Role
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


def is_staff_member(user: User | AnonymousUser) -> bool:
    """Agents, dispatchers, supervisors and administrators (and superusers)."""
    return has_role(user, *STAFF_ROLES)


def require_staff(user: User | AnonymousUser) -> None:
    """Agents, dispatchers, supervisors and administrators manage work orders; technicians only their own."""
    if not is_staff_member(user):
        raise PermissionDenied("Only call-center staff and dispatchers may do this")


def require_role(user: User | AnonymousUser, *roles: Role) -> None:
    if not has_role(user, *roles):
        names = ", ".join(str(role.label) for role in roles)
        raise PermissionDenied(f"Only these roles may do this: {names}")
