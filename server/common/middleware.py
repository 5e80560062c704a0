"""A database that is down or restarting gives clients a clear 503 with Retry-After, not a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

_CONNECTION_WORDS = ("connection", "server closed", "terminating", "could not connect", "shutting down")


def database_unavailable(error: BaseException) -> bool:
    """Connection-level failures only; a constraint or a bad query stays a bug (500)."""
    if isinstance(error, InterfaceError):
        return True
    if not isinstance(error, OperationalError):
        return False
    sqlstate = getattr(error.__cause__, "sqlstate", None) or ""
    # 08: connection exception; 57P: operator intervention (shutdown, restart); 53: resources.
    if sqlstate.startswith(("08", "57P", "53")):
        return True
    text = str(error).lower()
    return any(word in text for word in _CONNECTION_WORDS)


def unavailable_response() -> JsonResponse:
    response = JsonResponse(
        {
            "message": "The service is briefly unavailable (database); nothing was changed. Try again.",
            "code": "unavailable",
            "extra": {},
        },
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """Turns a view's lost database connection into 503 (the API re-raises what it cannot handle)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_unavailable(exception):
            return None
        logger.warning("Database unavailable for %s %s: %s", request.method, request.path, exception)
        for connection in connections.all(initialized_only=True):
            # A broken connection is dropped now, so the next request reconnects.
            connection.close_if_unusable_or_obsolete()
        return unavailable_response()
