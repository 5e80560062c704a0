"""Blocking HTTP client for the Fixroute mobile API (stdlib only, no Kivy).

Every call blocks, so the UI runs it on a worker thread (see ``mobile.background``).
Failures are sorted into three exception types, because the outbox acts differently
on each:

- ``RejectedError``: the server refused the request for good (400/403/404/409/422 and
  any other 4xx except 401/408/429). Retrying can't help; keep the event as rejected.
- ``AuthError``: 401, the token is missing, expired or revoked. Log in again.
- ``TransientError``: no network, timeout, connection dropped, 5xx, 408, 429, or a
  2xx body that isn't the JSON we expect (captive portal, proxy page). Retry later.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

DEFAULT_TIMEOUT_S = 10.0
RETRYABLE_STATUSES = frozenset({408, 429})


class ApiError(Exception):
    """Base class: ``message`` is fit to show to the technician."""

    def __init__(self, message: str, *, status: int | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra or {}


class TransientError(ApiError):
    """Worth retrying later: network trouble or a server-side hiccup."""


class AuthError(ApiError):
    """401: the technician has to log in (again)."""


class RejectedError(ApiError):
    """The server refused this request permanently."""


def _ssl_context() -> ssl.SSLContext | None:
    # Android has no system CA bundle Python can read; certifi ships one.
    try:
        import certifi
    except ImportError:
        return None
    return ssl.create_default_context(cafile=certifi.where())


class ApiClient:
    """Talks to ``{base_url}/api/...``; holds the bearer token once logged in."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._ssl = _ssl_context() if self.base_url.startswith("https:") else None

    # -- endpoints ---------------------------------------------------------------

    def login(self, *, username: str, password: str) -> dict[str, Any]:
        """``POST /api/auth/token`` -> ``{"token", "technician": {"id", "name"}}``."""
        body = self._request("POST", "/api/auth/token", {"username": username, "password": password}, auth=False)
        token = body.get("token")
        technician = body.get("technician")
        if not isinstance(token, str) or not token or not isinstance(technician, dict):
            raise TransientError("Unexpected login response from the server.")
        return body

    def jobs(self) -> dict[str, Any]:
        """``GET /api/mobile/jobs`` -> ``{"technician", "day", "jobs": [...]}``."""
        body = self._request("GET", "/api/mobile/jobs")
        if not isinstance(body.get("jobs"), list):
            raise TransientError("Unexpected job list from the server.")
        return body

    def send_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/mobile/events`` -> ``{"duplicate": bool, "job": Job}``."""
        body = self._request("POST", "/api/mobile/events", event)
        if not isinstance(body.get("job"), dict):
            raise TransientError("Unexpected event response from the server.")
        return body

    # -- plumbing ----------------------------------------------------------------

    def _request(
        self, method: str, path: str, payload: dict[str, Any] | None = None, *, auth: bool = True
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if payload is not None:
            data = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if auth:
            if not self.token:
                raise AuthError("Please log in.", status=401)
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._ssl) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, _read_quietly(err)
        except (OSError, http.client.HTTPException) as err:
            # URLError, refused, reset, timeout, RemoteDisconnected (lost response).
            raise TransientError(f"Server unreachable ({_reason(err)}).") from err
        if 200 <= status < 300:
            body = _decode(raw)
            if body is None:
                raise TransientError(f"Unreadable response from the server (HTTP {status}).", status=status)
            return body
        raise _error_for(status, _decode(raw))


def _error_for(status: int, body: dict[str, Any] | None) -> ApiError:
    message = ""
    extra: dict[str, Any] = {}
    if body is not None:
        message = str(body.get("message") or body.get("detail") or "")
        if isinstance(body.get("extra"), dict):
            extra = body["extra"]
    if status == 401:
        return AuthError(message or "Session expired, please log in again.", status=status, extra=extra)
    if status >= 500 or status in RETRYABLE_STATUSES:
        return TransientError(message or f"Server busy (HTTP {status}).", status=status, extra=extra)
    if 400 <= status < 500:
        return RejectedError(message or f"Refused by the server (HTTP {status}).", status=status, extra=extra)
    # 1xx/3xx that urllib did not follow: treat as a temporary oddity.
    return TransientError(f"Unexpected HTTP {status}.", status=status)


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _read_quietly(err: urllib.error.HTTPError) -> bytes:
    try:
        return err.read()
    except (OSError, http.client.HTTPException):
        return b""


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None) or err
    return str(reason) or type(reason).__name__
