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
from dataclasses import dataclass
from typing import Any

from mobile.i18n import _, accept_language

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


@dataclass(frozen=True, slots=True)
class JobList:
    """``GET /api/mobile/jobs``: ``body`` is None when the server said 304 Not Modified."""

    body: dict[str, Any] | None
    etag: str

    @property
    def changed(self) -> bool:
        return self.body is not None


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
        self._ssl: ssl.SSLContext | None = None

    # -- endpoints ---------------------------------------------------------------

    def login(self, *, username: str, password: str) -> dict[str, Any]:
        """``POST /api/auth/token`` -> ``{"token", "technician": {"id", "name"}}``."""
        body = self._request("POST", "/api/auth/token", {"username": username, "password": password}, auth=False)
        token = body.get("token")
        technician = body.get("technician")
        if not isinstance(token, str) or not token or not isinstance(technician, dict):
            raise TransientError(_("Unexpected login response from the server."))
        return body

    def logout(self) -> None:
        """``POST /api/auth/logout``: the server revokes the token (204)."""
        self._request("POST", "/api/auth/logout", allow_empty=True)

    def jobs(self) -> dict[str, Any]:
        """``GET /api/mobile/jobs`` -> ``{"technician", "day", "jobs": [...]}``."""
        result = self.jobs_if_changed(None)
        assert result.body is not None
        return result.body

    def jobs_if_changed(self, etag: str | None) -> JobList:
        """The job list, or ``JobList(None, etag)`` when it is unchanged since ``etag``."""
        headers = {"If-None-Match": etag} if etag else {}
        status, response_headers, body = self._exchange("GET", "/api/mobile/jobs", headers=headers)
        if status == 304:
            return JobList(None, response_headers.get("etag") or etag or "")
        if body is None:
            raise TransientError(_("Unreadable response from the server (HTTP {status}).").format(status=status))
        if not isinstance(body.get("jobs"), list):
            raise TransientError(_("Unexpected job list from the server."))
        return JobList(body, response_headers.get("etag") or "")

    def send_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/mobile/events`` -> ``{"duplicate": bool, "job": Job}``."""
        body = self._request("POST", "/api/mobile/events", event)
        if not isinstance(body.get("job"), dict):
            raise TransientError(_("Unexpected event response from the server."))
        return body

    def send_batch(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """``POST /api/mobile/events/batch`` with ``{"events": [...]}`` (each with ``"type"``:
        "tap" or "location") -> ``{"results": [one per event, in order], "jobs": [Job]}``."""
        body = self._request("POST", "/api/mobile/events/batch", {"events": events})
        results, jobs = body.get("results"), body.get("jobs")
        if not isinstance(results, list) or len(results) != len(events) or not isinstance(jobs, list):
            raise TransientError(_("Unexpected event response from the server."))
        if any(not isinstance(r, dict) or not isinstance(r.get("status"), int) for r in results):
            raise TransientError(_("Unexpected event response from the server."))
        return body

    def send_location(self, report: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/mobile/location`` -> ``{"duplicate": bool, "accepted": bool}``."""
        return self._request("POST", "/api/mobile/location", report)

    def photo_start(self, announcement: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/mobile/photos`` -> ``{"client_photo_id", "received", "complete"}``."""
        return self._request("POST", "/api/mobile/photos", announcement)

    def photo_put(self, client_photo_id: str, offset: int, data: bytes) -> dict[str, Any]:
        """``PUT /api/mobile/photos/{id}/content?offset=N`` -> ``{"received", "complete"}``."""
        path = f"/api/mobile/photos/{client_photo_id}/content?offset={int(offset)}"
        return self._request("PUT", path, raw=data)

    # -- plumbing ----------------------------------------------------------------

    def _context(self) -> ssl.SSLContext | None:
        # base_url changes when the technician types another server address.
        if not self.base_url.startswith("https:"):
            return None
        if self._ssl is None:
            self._ssl = _ssl_context()
        return self._ssl

    def _request(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        auth: bool = True,
        raw: bytes | None = None,
        allow_empty: bool = False,
    ) -> dict[str, Any]:
        status, _headers, body = self._exchange(method, path, payload, auth=auth, raw=raw)
        if body is None:
            if allow_empty:
                return {}
            raise TransientError(_("Unreadable response from the server (HTTP {status}).").format(status=status))
        return body

    def _exchange(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        auth: bool = True,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        """One request: (status, lower-case headers, JSON body or None) for 2xx and 304;
        an ApiError for anything else."""
        sent = {"Accept": "application/json", "Accept-Language": accept_language(), **(headers or {})}
        data = None
        if payload is not None:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")  # Chinese in 3 bytes, not 6
            sent["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw
            sent["Content-Type"] = "application/octet-stream"
        if auth:
            if not self.token:
                raise AuthError(_("Please log in."), status=401)
            sent["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base_url + path, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context()) as response:
                status, content, received = response.status, response.read(), response.headers
        except urllib.error.HTTPError as err:
            status, content, received = err.code, _read_quietly(err), err.headers
        except ValueError as err:  # "unknown url type": not an http(s) address
            raise TransientError(_("Not a server address: {url}").format(url=self.base_url)) from err
        except (OSError, http.client.HTTPException) as err:
            # URLError, refused, reset, timeout, RemoteDisconnected (lost response).
            raise TransientError(_("Server unreachable ({reason}).").format(reason=_reason(err))) from err
        lower = {k.lower(): v for k, v in (received.items() if received is not None else [])}
        if 200 <= status < 300 or status == 304:
            return status, lower, _decode(content) if content else None
        raise _error_for(status, _decode(content))


def _error_for(status: int, body: dict[str, Any] | None) -> ApiError:
    message = ""
    extra: dict[str, Any] = {}
    if body is not None:
        message = str(body.get("message") or body.get("detail") or "")
        if isinstance(body.get("extra"), dict):
            extra = dict(body["extra"])
        if "received" in body and "received" not in extra:  # a photo offset mismatch
            extra["received"] = body["received"]
    if status == 401:
        return AuthError(message or _("Session expired, please log in again."), status=status, extra=extra)
    if status >= 500 or status in RETRYABLE_STATUSES:
        return TransientError(
            message or _("Server busy (HTTP {status}).").format(status=status), status=status, extra=extra
        )
    if 400 <= status < 500:
        return RejectedError(
            message or _("Refused by the server (HTTP {status}).").format(status=status), status=status, extra=extra
        )
    # 1xx/3xx that urllib did not follow: treat as a temporary oddity.
    return TransientError(_("Unexpected HTTP {status}.").format(status=status), status=status)


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
