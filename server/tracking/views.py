"""The customer's tracking page (no login: the signed link is the key).

Each view turns the token into the order (``links.tracking_order``), calls one selector or
service, and renders in the customer's language. A refused choice answers with the page and
the reason; a bad link answers 404 and an expired one 410, both with a page a customer can read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from server.common.exceptions import ApplicationError
from server.tracking import selectors, services
from server.workorders import links
from server.workorders.models import WorkOrder

# The customer's language (Customer.language) as a Django language code.
LANGUAGES = {"zh-CN": "zh-hans", "en": "en"}
# How often the open page asks for a fresh ETA (seconds).
REFRESH_SECONDS = 45
DONE_NOTICES = ("confirmed", "rescheduled", "cancelled")

View = Callable[..., HttpResponse]


def _language(work_order: WorkOrder) -> str:
    return LANGUAGES.get(work_order.customer.language, "zh-hans")


def _tracked(view: Callable[..., HttpResponse]) -> View:
    """Resolve the token and render the view in the customer's language; refuse bad links."""

    @wraps(view)
    def wrapper(request: HttpRequest, token: str) -> HttpResponse:
        try:
            work_order = links.tracking_order(token)
        except links.LinkExpired as error:
            return render(request, "tracking/gone.html", {"message": error.message, "expired": True}, status=410)
        except ApplicationError as error:
            return render(request, "tracking/gone.html", {"message": error.message, "expired": False}, status=404)
        with translation.override(_language(work_order)):
            response = view(request, token, work_order)
            response["Content-Language"] = translation.get_language() or ""
            return response

    return never_cache(wrapper)


def _page(
    request: HttpRequest, token: str, work_order: WorkOrder, *, error: str = "", status: int = 200
) -> HttpResponse:
    done = request.GET.get("done", "")
    context: dict[str, Any] = {
        "token": token,
        "view": selectors.tracking_view(work_order=work_order),
        "refresh_seconds": REFRESH_SECONDS,
        "done": done if done in DONE_NOTICES else "",
        "error": error,
    }
    return render(request, "tracking/page.html", context, status=status)


def _slots_context(token: str, work_order: WorkOrder) -> dict[str, Any]:
    today = timezone.localdate()
    return {
        "token": token,
        "view": selectors.tracking_view(work_order=work_order),
        "slots": selectors.tracking_slots(work_order=work_order),
        "today": f"{today:%Y-%m-%d}",
        "tomorrow": f"{today + dt.timedelta(days=1):%Y-%m-%d}",
    }


def _back(token: str, done: str) -> HttpResponse:
    return redirect(reverse("tracking:page", kwargs={"token": token}) + f"?done={done}")


@require_GET
@_tracked
def tracking_page(request: HttpRequest, token: str, work_order: WorkOrder) -> HttpResponse:
    return _page(request, token, work_order)


@require_GET
@_tracked
def tracking_eta(request: HttpRequest, token: str, work_order: WorkOrder) -> HttpResponse:
    """The live part of the page (status, ETA), polled by htmx while it is open."""
    context = {
        "token": token,
        "view": selectors.tracking_view(work_order=work_order),
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render(request, "tracking/_live.html", context)


@require_POST
@_tracked
def tracking_confirm(request: HttpRequest, token: str, work_order: WorkOrder) -> HttpResponse:
    try:
        services.tracking_confirm(work_order=work_order)
    except ApplicationError as error:
        return _page(request, token, work_order, error=error.message, status=error.status_code)
    return _back(token, "confirmed")


@require_GET
@_tracked
def tracking_slots(request: HttpRequest, token: str, work_order: WorkOrder) -> HttpResponse:
    return render(request, "tracking/slots.html", _slots_context(token, work_order))


@require_POST
@_tracked
def tracking_reschedule(request: HttpRequest, token: str, work_order: WorkOrder) -> HttpResponse:
    try:
        services.tracking_reschedule(work_order=work_order, slot_key=request.POST.get("slot", ""))
    except ApplicationError as error:
        context = {**_slots_context(token, work_order), "error": error.message}
        return render(request, "tracking/slots.html", context, status=error.status_code)
    return _back(token, "rescheduled")


@require_POST
@_tracked
def tracking_cancel(request: HttpRequest, token: str, work_order: WorkOrder) -> HttpResponse:
    try:
        services.tracking_cancel(work_order=work_order, reason=request.POST.get("reason", ""))
    except ApplicationError as error:
        return _page(request, token, work_order, error=error.message, status=error.status_code)
    return _back(token, "cancelled")
