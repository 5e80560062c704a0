"""Who may do what. Roles are Django groups named after ``Role`` values; superusers may do all."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from server.accounts.models import Role
from server.common.exceptions import PermissionDenied


def has_role(user: AbstractBaseUser, *roles: Role) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=[role.value for role in roles]).exists()


def require_staff(user: AbstractBaseUser) -> None:
    """Call-center staff and dispatchers manage work orders; technicians only their own."""
    if not has_role(user, Role.CALL_CENTER, Role.DISPATCHER):
        raise PermissionDenied("Only call-center staff and dispatchers may do this")
