"""Errors raised by services; one handler in ``server.config.api`` turns them into responses."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A refused request: the message is shown to the user, nothing was changed."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


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
