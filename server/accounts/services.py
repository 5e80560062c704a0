from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils import timezone

from server.accounts.models import ApiToken
from server.common.exceptions import ApplicationError, TooManyRequests, Unauthorized


class LoginFailed(ApplicationError):
    status_code = 401
    code = "login_failed"


class LoginLockedOut(TooManyRequests):
    code = "locked_out"


# A token's last_used_at is written at most this often (not on every request).
LAST_USED_PRECISION = dt.timedelta(minutes=5)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def api_token_issue(
    *,
    request: HttpRequest,
    username: str,
    password: str,
    label: str = "app",
) -> tuple[str, ApiToken]:
    """Check the credentials and return a new bearer token's key (shown once) and the token.

    ``request`` lets django-axes count failures per username and address. Once a pair is locked
    out, axes refuses in its backend before any password is checked, and this raises
    ``LoginLockedOut`` (429, Retry-After: the cool-off) instead of a 401.
    """
    user = authenticate(request=request, username=username, password=password)
    if getattr(request, "axes_locked_out", False):
        # We answer the lockout ourselves, in the API's error shape; clearing the flag stops
        # AxesMiddleware from swapping our answer for its plain-text page.
        request.axes_locked_out = False  # type: ignore[attr-defined]
        cool_off = get_cool_off(request)
        seconds = int(cool_off.total_seconds()) if cool_off else None
        raise LoginLockedOut(
            "Too many failed logins for this user from this address; try again later"
            + (f" (in {max(1, round(seconds / 60))} minutes)" if seconds else ""),
            extra={"retry_after_seconds": seconds},
            retry_after=seconds,
        )
    if user is None or not user.is_active:
        raise LoginFailed("Wrong username or password")
    key = secrets.token_urlsafe(32)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        key_hash=_hash(key),
        label=label[:100],
        expires_at=now + dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS),
    )
    return key, token


def api_token_check(*, key: str) -> ApiToken:
    """The live token for ``key`` (with its user), or ``Unauthorized``: unknown, expired, revoked,
    or its user deactivated. One answer for all, so a caller learns nothing about other tokens."""
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash(key), revoked_at__isnull=True, expires_at__gt=now, user__is_active=True)
        .first()
    )
    if token is None:
        raise Unauthorized("Log in again: this token is unknown, expired or revoked")
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def api_token_revoke(*, token: ApiToken, reason: str = "logged out") -> None:
    """Revoke one token (logging out on the phone). Revoking twice keeps the first time."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:100]
    )


def api_tokens_revoke_for_user(*, user: User, reason: str) -> int:
    """Revoke every live token of ``user`` at once (password changed, user deactivated)."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason[:100]
    )
