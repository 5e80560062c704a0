"""The one NinjaAPI: routers per app, token or session auth, one error format.

Every refused request answers ``{"message", "code", "extra"}`` (``server.common.schemas.ErrorOut``),
whether a service refused it, the input did not validate, the credentials were missing, or the
body could not be read; each endpoint lists the codes it can answer in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import BadRequest, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from server.accounts.api import router as accounts_router
from server.accounts.auth import session_auth, token_auth
from server.common.exceptions import ApplicationError
from server.intake.api import router as desk_router
from server.scheduling.api import router as scheduling_router
from server.scheduling.api import work_orders_router as plan_changes_router
from server.workorders.api import mobile_router
from server.workorders.api import router as work_orders_router

api = NinjaAPI(
    title="Fixroute API",
    version="1",
    description=(
        "The technician app authenticates with `Authorization: Bearer <token>` from `POST /api/auth/token` "
        "(a bad, expired or revoked token answers 401: log in again); staff's browsers use their session "
        "(with CSRF). Every error answers `{message, code, extra}`. Datetimes are ISO-8601 strings with a "
        "UTC offset (within ±15:59), dates are `YYYY-MM-DD`, both between 2000 and 2099; text must not "
        "contain NUL characters or lone surrogates."
    ),
    urls_namespace="api",
    auth=[token_auth, session_auth],
    docs_decorator=staff_member_required,
)
api.add_router("/auth", accounts_router)
api.add_router("/mobile", mobile_router)
# Three rooms serve /work-orders: the desk (list, log a repair), the order itself (read, status)
# and its plan (assign, pin, reschedule, hold, release, cancel); no two share a path.
api.add_router("/work-orders", desk_router)
api.add_router("/work-orders", work_orders_router)
api.add_router("/work-orders", plan_changes_router)
api.add_router("/scheduling", scheduling_router)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation",
    429: "too_many_requests",
}


def error_response(
    request: HttpRequest,
    *,
    status: int,
    message: str,
    code: str,
    extra: dict[str, Any] | None = None,
    retry_after: int | None = None,
) -> HttpResponse:
    response = api.create_response(request, {"message": message, "code": code, "extra": extra or {}}, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@api.exception_handler(ApplicationError)
def application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    return error_response(
        request,
        status=exc.status_code,
        message=exc.message,
        code=exc.code,
        extra=exc.extra,
        retry_after=exc.retry_after,
    )


def _error_text(error: dict[str, Any]) -> str:
    field = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "payload"))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{field}: {message}"


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields = [_error_text(error) for error in exc.errors]
    return error_response(
        request,
        status=422,
        message="Invalid request — " + "; ".join(fields),
        code="validation",
        extra={"errors": fields},
    )


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, status=401, message="Log in first (missing or expired token)", code="unauthorized")


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """Ninja's own refusals (an unreadable body, 400) in the one shape."""
    return error_response(
        request, status=exc.status_code, message=exc.message, code=_CODES.get(exc.status_code, "error")
    )


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, status=404, message="Not found", code="not_found")


@api.exception_handler(BadRequest)
@api.exception_handler(MultiPartParserError)
def bad_request(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A body Django cannot read as its content type claims (multipart without a boundary), met
    when something reads ``request.POST`` (django-axes does, on a failed login)."""
    return error_response(request, status=400, message=f"Cannot read the request body: {exc}", code="bad_request")


@api.exception_handler(RequestDataTooBig)
def request_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(request, status=413, message="The request body is too large", code="too_large")
