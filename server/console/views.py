"""The staff console's pages. Thin: check who asks, parse the form, one selector or service call,
render. Only staff roles (agent, dispatcher, supervisor, admin; superusers) may use it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from server.accounts.roles import has_role, is_staff_member
from server.care import services as care_services
from server.common.audit import audit_record
from server.common.exceptions import ApplicationError, NotFound
from server.common.models import AuditAction
from server.console import selectors
from server.console import services as console_services
from server.console.forms import (
    AssignForm,
    NoteForm,
    ReasonForm,
    RepairForm,
    RescheduleForm,
    WorkOrderFilterForm,
)
from server.crm.services.privacy import EXPORT_ROLES
from server.scheduling import changes

# HttpResponseBase: a photo is a streamed FileResponse, the pages are HttpResponses.
View = Callable[..., HttpResponseBase]

# The screen-pop polls: every open console asks "any call after id X?" every POLL_MS. With
# gunicorn's sync workers (our deployment) a server-sent-events stream would hold one worker per
# open console for as long as it is open; a poll holds one for a few milliseconds (one indexed
# primary-key query, answered 204 with no body when nothing is new, which htmx ignores). Two polls
# a second keep the pop well under the 1 s goal (bench/screen_pop.py measures it).
POLL_MS = 500


def staff_required(view: View) -> View:
    """Log in first; technicians (and accounts without a staff role) get the 403 page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            if getattr(request, "htmx", False):
                # A poll after the session ended: send the whole page to the login, not a fragment.
                response = HttpResponse(status=204)
                response["HX-Redirect"] = reverse("console:login")
                return response
            return redirect_to_login(request.get_full_path())
        if not is_staff_member(request.user):
            return render(request, "console/forbidden.html", {"hide_nav": True}, status=403)
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            return render(request, "console/not_found.html", {"message": exc.message}, status=404)

    return wrapper


class LoginView(auth_views.LoginView):
    """Django's login with our page; django-axes counts failures (the backend is configured) and a
    locked-out user gets a page saying so, in their language, instead of axes' plain text."""

    template_name = "console/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form: Any) -> HttpResponse:
        if getattr(self.request, "axes_locked_out", False):
            self.request.axes_locked_out = False  # type: ignore[attr-defined]  # we answer it ourselves
            return render(self.request, "console/locked_out.html", status=429)
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    pass


@staff_required
def home(request: HttpRequest) -> HttpResponse:
    context = {"after": selectors.call_latest_id(), "poll_ms": POLL_MS}
    return render(request, "console/home.html", context)


@staff_required
def call_pop(request: HttpRequest) -> HttpResponse:
    """The screen-pop's poll: 204 when no call came after ``after``, else the newest call's card."""
    try:
        after = int(request.GET.get("after", "0"))
    except ValueError:
        after = 0
    call = selectors.call_newer_than(after=after)
    if call is None:
        return HttpResponse(status=204)
    context: dict[str, Any] = {"call": call, "after": call.pk, "poll_ms": POLL_MS}
    if call.customer is not None:
        context["card"] = selectors.customer_card(customer=call.customer)
    context["callbacks"] = selectors.callback_tasks_for_call(call=call)
    return render(request, "console/_pop.html", context)


@staff_required
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = selectors.customer_get(customer_id=customer_id)
    audit_record(user=request.user, action=AuditAction.VIEWED, what="customer page", customer_id=customer.pk)
    context = {
        "customer": customer,
        "card": selectors.customer_card(customer=customer),
        "timeline": selectors.customer_timeline(customer=customer),
        "note_form": NoteForm(),
        "may_clear": has_role(request.user, *care_services.COMPLAINT_CLEARERS),
        "may_export": has_role(request.user, *EXPORT_ROLES),
    }
    return render(request, "console/customer.html", context)


@staff_required
@require_POST
def customer_note_add(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = selectors.customer_get(customer_id=customer_id)
    form = NoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Write the note first."))
    else:
        try:
            care_services.note_add(customer=customer, text=form.cleaned_data["text"], author=request.user)  # type: ignore[arg-type]
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Note saved."))
    return redirect("console:customer", customer_id=customer.pk)


@staff_required
def repair(request: HttpRequest) -> HttpResponse:
    form = RepairForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        window_start, window_end = form.window()
        try:
            work_order = console_services.repair_log_at_desk(
                actor=request.user,  # type: ignore[arg-type]
                problem=data["problem"],
                customer_id=data["customer_id"],
                phone=data["phone"],
                customer_name=data["customer_name"],
                site_id=data["site_id"],
                address=data["address"],
                latitude=data["latitude"],
                longitude=data["longitude"],
                equipment_id=data["equipment_id"],
                equipment_type=data["equipment_type"],
                equipment_model=data["equipment_model"],
                equipment_install_date=data["equipment_install_date"],
                equipment_skill=data["equipment_skill"],
                priority=data["priority"],
                required_skill=data["required_skill"] or None,
                window_start=window_start,
                window_end=window_end,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            work_order = selectors.work_order_detail(work_order_id=work_order.pk)
            context = {
                "work_order": work_order,
                "why": selectors.explanation_sentences(work_order.assignment_explanation),
            }
            return render(request, "console/repair_done.html", context)
    chosen = None
    wanted = form.data.get("customer_id") or request.GET.get("customer")
    if wanted:
        try:
            chosen = selectors.customer_card(customer=selectors.customer_get(customer_id=int(wanted)))
        except (NotFound, ValueError):
            chosen = None
    return render(request, "console/repair.html", {"form": form, "chosen": chosen})


@staff_required
def repair_search(request: HttpRequest) -> HttpResponse:
    """As-you-type search for the repair form (htmx): customers by phone, name, address, WO number."""
    query = request.GET.get("q", "")
    customers = selectors.customer_search(query=query)
    rows = [
        {"customer": customer, "phone": selectors.phone_for(request.user, customer.phone)} for customer in customers
    ]
    return render(request, "console/_customer_results.html", {"rows": rows, "query": query})


@staff_required
def repair_customer(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The chosen customer's sites and equipment, to pick from in the repair form (htmx)."""
    card = selectors.customer_card(customer=selectors.customer_get(customer_id=customer_id))
    return render(request, "console/_customer_choice.html", {"chosen": card})


@staff_required
def work_order_list(request: HttpRequest) -> HttpResponse:
    form = WorkOrderFilterForm(request.GET or None)
    filters = selectors.WorkOrderFilters()
    if form.is_valid():
        data = form.cleaned_data
        filters = selectors.WorkOrderFilters(
            query=data["q"],
            status=data["status"],
            priority=data["priority"],
            technician_id=data["technician"].pk if data["technician"] else None,
            area=data["area"],
            complaint=data["complaint"],
            needs_review=data["needs_review"],
            at_risk=data["at_risk"],
        )
    paginator = Paginator(selectors.work_order_search(filters=filters), selectors.WORK_ORDER_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    rows = [{"order": order, "phone": selectors.phone_for(request.user, order.customer.phone)} for order in page]
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "rows": rows, "query": query.urlencode()}
    return render(request, "console/work_orders.html", context)


@staff_required
def work_order_detail(request: HttpRequest, work_order_id: int) -> HttpResponse:
    work_order = selectors.work_order_detail(work_order_id=work_order_id)
    context = {
        "work_order": work_order,
        "phone": selectors.phone_for(request.user, work_order.customer.phone),
        "events": [
            (event, selectors.event_words(event)) for event in selectors.work_order_events(work_order=work_order)
        ],
        "why": selectors.explanation_sentences(work_order.assignment_explanation),
        "photos": selectors.work_order_photos(work_order=work_order),
        "assign_form": AssignForm(),
        "reschedule_form": RescheduleForm(),
        "reason_form": ReasonForm(),
    }
    return render(request, "console/work_order.html", context)


@staff_required
def work_order_photo(request: HttpRequest, work_order_id: int, photo_id: int) -> FileResponse:
    """One stored photo of an order, to whoever may open the order's page. Media are not served
    by URL (customers' homes): the file is found from the photo's row, never from the request."""
    photo = selectors.work_order_photo_get(work_order_id=work_order_id, photo_id=photo_id)
    try:
        handle = photo.file.open("rb")
    except FileNotFoundError as exc:  # the row outlived its file (a restored database)
        raise NotFound(_("Photo %(id)s does not exist") % {"id": photo_id}) from exc
    response = FileResponse(handle, content_type=photo.content_type, filename=photo.filename)
    patch_cache_control(response, private=True, max_age=3600)
    return response


@staff_required
@require_POST
def work_order_action(request: HttpRequest, work_order_id: int, action: str) -> HttpResponse:
    """The staff changes (``server.scheduling.changes``); a refusal shows the service's message."""
    actor = request.user
    try:
        if action == "assign":
            form: Any = AssignForm(request.POST)
            if form.is_valid():
                changes.work_order_assign_by_hand(
                    work_order_id=work_order_id,
                    technician_id=form.cleaned_data["technician"].pk,
                    actor=actor,  # type: ignore[arg-type]
                )
        elif action == "reschedule":
            form = RescheduleForm(request.POST)
            if form.is_valid():
                start, end = form.window()
                assert start is not None
                assert end is not None
                changes.work_order_reschedule(
                    work_order_id=work_order_id,
                    window_start=start,
                    window_end=end,
                    reason=form.cleaned_data["reason"],
                    actor=actor,  # type: ignore[arg-type]
                )
        elif action in ("hold", "cancel"):
            form = ReasonForm(request.POST)
            if form.is_valid():
                change = changes.work_order_hold if action == "hold" else changes.work_order_cancel
                change(work_order_id=work_order_id, reason=form.cleaned_data["reason"], actor=actor)  # type: ignore[arg-type]
        elif action == "release":
            form = None
            changes.work_order_release(work_order_id=work_order_id, actor=actor)  # type: ignore[arg-type]
        else:
            raise NotFound(_("Unknown action"))
    except ApplicationError as exc:
        if isinstance(exc, NotFound) and action not in ("assign", "reschedule", "hold", "cancel", "release"):
            raise
        messages.error(request, exc.message)
    else:
        if form is not None and not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
        else:
            messages.success(request, _("Done."))
    return redirect("console:work_order", work_order_id=work_order_id)
