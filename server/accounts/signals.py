"""Sign a user out of the phone app when their password changes or they are deactivated.

A signal, not a service, on purpose: passwords and the active flag change in code we do not
call. The admin's user form and its password form, ``manage.py changepassword``, Django's
password-change and reset views and a shell all end in ``User.save()``, and only a signal on
that save sees every one of them (the ``user_logged_in`` signal sees none; Django has no
"password changed" signal). Browser sessions already end on a password change (Django's
session auth hash); this does the same for bearer tokens.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from server.accounts import services


def user_note_credential_change(
    sender: type[User], instance: User, raw: bool = False, update_fields: frozenset[str] | None = None, **kwargs: Any
) -> None:
    """pre_save: compare with the stored row and remember whether tokens must go."""
    instance._fixroute_revoke_tokens = None  # type: ignore[attr-defined]
    if raw or instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. last_login on every login: no query
    before = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    # set_password() keeps the new raw password in _password until the save. Django's own hash
    # upgrade on login (check_password's setter) clears it first: a new hash, the same password.
    password_set = getattr(instance, "_password", None) is not None
    hash_upgrade = update_fields is not None and set(update_fields) == {"password"} and not password_set
    if before["password"] != instance.password and not hash_upgrade:
        instance._fixroute_revoke_tokens = "password changed"  # type: ignore[attr-defined]
    elif before["is_active"] and not instance.is_active:
        instance._fixroute_revoke_tokens = "user deactivated"  # type: ignore[attr-defined]


def user_revoke_tokens_after_change(sender: type[User], instance: User, **kwargs: Any) -> None:
    """post_save: the change is written; now revoke the tokens (a failed save revokes nothing)."""
    reason = getattr(instance, "_fixroute_revoke_tokens", None)
    if reason:
        instance._fixroute_revoke_tokens = None  # type: ignore[attr-defined]
        services.api_tokens_revoke_for_user(user=instance, reason=reason)
