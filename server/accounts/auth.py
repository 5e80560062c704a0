"""How API requests authenticate: a bearer token (the phone app) or the staff's browser session.

A request that sends ``Authorization: Bearer ...`` is judged by its token alone: a bad, expired
or revoked token is a 401 (the app asks the technician to log in again), never a fall-through
to the session check and its CSRF 403. Bearer requests carry no ambient credentials, so they
need no CSRF check. Session requests keep Django's CSRF check.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from server.accounts import services
from server.accounts.models import ApiToken
from server.common.exceptions import PermissionDenied
from server.common.types import ApiRequest


class TokenRequest(ApiRequest):
    """A request authenticated by ``TokenAuth``: ``api_token`` is the token it used."""

    api_token: ApiToken


class CsrfFailed(PermissionDenied):
    code = "csrf"


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = services.api_token_check(key=token)  # raises Unauthorized (401)
        request.user = api_token.user
        request.api_token = api_token  # type: ignore[attr-defined]
        return api_token.user


class SessionAuth(APIKeyCookie):
    """The staff's signed-in browser session, with Django's CSRF check.

    Unlike ninja's ``django_auth``, CSRF is checked only once the session is signed in: a request
    without a signed-in session has no credentials a forged form could borrow, and is answered
    401 (log in), not 403.
    """

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        if not request.user.is_authenticated:
            return None
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise CsrfFailed("CSRF check failed: reload the page and try again")
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if key is None or not request.user.is_authenticated:
            return None
        return request.user


token_auth = TokenAuth()
session_auth = SessionAuth()
