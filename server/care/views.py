"""The supervisor's queue of callbacks and the complaint flag, in the staff console.

Who sees and does what: every staff role (agent, dispatcher, supervisor, admin) may open the
queue, so the whole desk sees who waits for a call back; supervisors and admins close any task,
agents and dispatchers all but complaint callbacks (``services.callback_task_can_complete``).
Any staff member may set the complaint flag by hand (an agent hears the customer first); only
supervisors and admins clear it. Technicians get 403 everywhere.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from server.accounts.models import Role
from server.accounts.roles import has_role, is_staff_member
from server.care import selectors, services
from server.care.models import ComplaintSource
from server.common.exceptions import ApplicationError
from server.customers.models import Customer
from server.workorders.models import WorkOrder


def _staff(request: HttpRequest) -> User:
    """The logged-in staff member; anyone else (a technician) is refused with 403."""
    user = request.user
    if not isinstance(user, User) or not is_staff_member(user):
        raise DjangoPermissionDenied(_("Only call-center staff may open this page"))
    return user


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Back to the page the form was on (``next``), when it is one of ours."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


def _work_order_of(request: HttpRequest, customer: Customer) -> WorkOrder | None:
    """The customer's order the form names (``work_order``), if any; 404 for anyone else's."""
    order_id = request.POST.get("work_order", "").strip()
    if not order_id:
        return None
    if not order_id.isdigit():
        raise Http404(_("Choose one of the customer's work orders."))
    return get_object_or_404(WorkOrder, pk=int(order_id), customer=customer)


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    user = _staff(request)
    tasks = [
        {"task": task, "can_complete": services.callback_task_can_complete(user=user, kind=task.kind)}
        for task in selectors.callback_tasks_open()
    ]
    # Agents see numbers in lists only partly; here not at all (the customer page shows it, logged).
    show_phones = has_role(user, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)
    return render(request, "care/queue.html", {"tasks": tasks, "show_phones": show_phones})


@login_required
@require_POST
def callback_complete(request: HttpRequest, task_id: int) -> HttpResponse:
    user = _staff(request)
    try:
        services.callback_task_complete(task_id=task_id, user=user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Marked as called back."))
    return redirect("care:queue")


@login_required
@require_POST
def complaint_set(request: HttpRequest, customer_id: int) -> HttpResponse:
    user = _staff(request)
    customer = get_object_or_404(Customer, pk=customer_id)
    work_order = _work_order_of(request, customer)
    try:
        services.complaint_raise(
            customer=customer,
            work_order=work_order,
            reason=request.POST.get("reason", ""),
            source=ComplaintSource.STAFF,
            actor=user,
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The complaint is recorded and a supervisor will call back."))
    return _back(request, reverse("care:queue"))


@login_required
@require_POST
def complaint_clear(request: HttpRequest, customer_id: int) -> HttpResponse:
    user = _staff(request)
    if not has_role(user, *services.COMPLAINT_CLEARERS):
        raise DjangoPermissionDenied(_("Only a supervisor or an administrator may clear a complaint"))
    customer = get_object_or_404(Customer, pk=customer_id)
    try:
        services.complaint_clear(customer=customer, reason=request.POST.get("reason", ""), actor=user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The complaint is cleared."))
    return _back(request, reverse("care:queue"))


@login_required
@require_POST
def note_add(request: HttpRequest, customer_id: int) -> HttpResponse:
    """A staff note from the console's customer page; a complaint in it raises one."""
    user = _staff(request)
    customer = get_object_or_404(Customer, pk=customer_id)
    work_order = _work_order_of(request, customer)
    try:
        services.note_add(customer=customer, text=request.POST.get("text", ""), author=user, work_order=work_order)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        customer.refresh_from_db(fields=["complaint_open"])
        if customer.complaint_open:
            messages.warning(request, _("Note saved. The customer has an open complaint; a supervisor will call back."))
        else:
            messages.success(request, _("Note saved."))
    return _back(request, reverse("care:queue"))
