"""Errors raised by services; one handler in ``server.config.api`` turns them into responses."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A refused request: the message is shown to the user, nothing was changed.

    ``retry_after`` (seconds) becomes the response's ``Retry-After`` header: when asking again
    can succeed.
    """

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        self.retry_after = retry_after


class Unauthorized(ApplicationError):
    """No valid credentials: log in (again). The phone app asks the technician to log in on 401."""

    status_code = 401
    code = "unauthorized"


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class PermissionDenied(ApplicationError):
    status_code = 403
    code = "forbidden"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class ValidationFailed(ApplicationError):
    status_code = 422
    code = "validation"


class TooManyRequests(ApplicationError):
    status_code = 429
    code = "too_many_requests"
