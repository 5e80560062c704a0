"""The one NinjaAPI: routers per app, token or session auth, one error format."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import django_auth

from server.accounts.api import router as accounts_router
from server.accounts.auth import TokenAuth
from server.common.exceptions import ApplicationError
from server.scheduling.api import router as scheduling_router
from server.workorders.api import mobile_router
from server.workorders.api import router as work_orders_router

api = NinjaAPI(
    title="Fixroute API",
    version="1",
    urls_namespace="api",
    auth=[TokenAuth(), django_auth],
    docs_decorator=staff_member_required,
)
api.add_router("/auth", accounts_router)
api.add_router("/mobile", mobile_router)
api.add_router("/work-orders", work_orders_router)
api.add_router("/scheduling", scheduling_router)


@api.exception_handler(ApplicationError)
def application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    return api.create_response(
        request, {"message": exc.message, "code": exc.code, "extra": exc.extra}, status=exc.status_code
    )


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields = [
        ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "payload"))
        + f": {error.get('msg', 'invalid')}"
        for error in exc.errors
    ]
    return api.create_response(
        request,
        {"message": "Invalid request — " + "; ".join(fields), "code": "validation", "extra": {"errors": fields}},
        status=422,
    )


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request, {"message": "Log in first (missing or expired token)", "code": "unauthorized", "extra": {}},
        status=401,
    )
