from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils import timezone

from server.accounts.models import ApiToken
from server.common.exceptions import ApplicationError


class LoginFailed(ApplicationError):
    status_code = 401
    code = "login_failed"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_issue(
    *, request: HttpRequest, username: str, password: str, label: str = "app",
) -> tuple[str, User]:
    """Check the credentials and return a new bearer token (shown once) and its user.

    ``request`` lets django-axes count failures per username and address.
    """
    user = authenticate(request=request, username=username, password=password)
    if user is None or not user.is_active:
        raise LoginFailed("Wrong username or password")
    key = secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, key_hash=_hash(key), label=label[:100])
    return key, user


def api_token_user(*, key: str) -> User | None:
    token = ApiToken.objects.select_related("user").filter(key_hash=_hash(key)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 300:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
