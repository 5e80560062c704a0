"""The customer record's pages in the staff console: reminders, dormant customers, exports,
imports, and one customer's data export and erasure.

Who: every staff role sees the reminders and dormant lists and may create a preventive order;
exports, imports, a customer's data export and erasure are for supervisors and admins (the
services check it too). Technicians get 403 everywhere.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from server.accounts.models import Role
from server.accounts.roles import has_role, is_staff_member
from server.common.exceptions import ApplicationError
from server.crm import selectors
from server.crm.models import ImportJob
from server.crm.services import exports, imports, privacy, reminders
from server.customers.models import Customer

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _staff(request: HttpRequest) -> User:
    """The logged-in staff member; anyone else (a technician) is refused with 403."""
    user = request.user
    if not isinstance(user, User) or not is_staff_member(user):
        raise DjangoPermissionDenied(_("Only call-center staff may open this page"))
    return user


def _exporter(request: HttpRequest) -> User:
    """A supervisor or an administrator; other staff get 403."""
    user = _staff(request)
    if not has_role(user, *privacy.EXPORT_ROLES):
        raise DjangoPermissionDenied(_("Only supervisors and administrators may export, import or erase data"))
    return user


@login_required
@require_GET
def reminders_list(request: HttpRequest) -> HttpResponse:
    _staff(request)
    return render(request, "crm/reminders.html", {"reminders": selectors.reminders_open()})


@login_required
@require_POST
def reminder_order(request: HttpRequest, reminder_id: int) -> HttpResponse:
    user = _staff(request)
    try:
        order = reminders.reminder_order_create(reminder_id=reminder_id, actor=user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Preventive order %(reference)s created.") % {"reference": order.reference})
    return redirect("crm:reminders")


@login_required
@require_GET
def dormant_list(request: HttpRequest) -> HttpResponse:
    user = _staff(request)
    context = {
        "customers": selectors.customers_dormant(now=timezone.now()),
        "months": settings.DORMANT_MONTHS,
        # As in the callback queue: agents find the number on the customer page, which is logged.
        "show_phones": has_role(user, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN),
    }
    return render(request, "crm/dormant.html", context)


@login_required
@require_GET
def exports_page(request: HttpRequest) -> HttpResponse:
    _exporter(request)
    tables = [(name, table.label) for name, table in exports.TABLES.items()]
    return render(request, "crm/exports.html", {"tables": tables, "formats": exports.FORMATS})


@login_required
@require_GET
def export_download(request: HttpRequest, table: str, fmt: str) -> HttpResponse:
    user = _exporter(request)
    try:
        filename, content, content_type = exports.export_table(table=table, fmt=fmt, user=user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("crm:exports")
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    user = _exporter(request)
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("Choose a .csv or .xlsx file."))
        elif upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
            messages.error(request, _("The file is too large (at most 20 MB)."))
        else:
            try:
                job = imports.import_job_create(
                    file_name=upload.name or "upload.csv",
                    data=upload.read(),
                    user=user,
                    language=translation.get_language() or "zh-hans",
                )
            except ApplicationError as error:
                messages.error(request, error.message)
            else:
                return redirect("crm:import_job", job_id=job.pk)
    return render(
        request, "crm/import.html", {"jobs": selectors.import_jobs_recent(), "columns": exports.IMPORT_COLUMNS}
    )


@login_required
@require_GET
def import_job(request: HttpRequest, job_id: int) -> HttpResponse:
    _exporter(request)
    job = get_object_or_404(ImportJob.objects.defer("data"), pk=job_id)
    template = "crm/_import_progress.html" if request.htmx else "crm/import_job.html"  # type: ignore[attr-defined]
    return render(request, template, {"job": job})


@login_required
@require_GET
def customer_data(request: HttpRequest, customer_id: int) -> HttpResponse:
    user = _exporter(request)
    customer = get_object_or_404(Customer, pk=customer_id)
    data = privacy.customer_data_export(customer=customer, user=user)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}.json"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def customer_erase(request: HttpRequest, customer_id: int) -> HttpResponse:
    user = _exporter(request)
    customer = get_object_or_404(Customer, pk=customer_id)
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            messages.error(request, _("Tick the box to confirm the erasure."))
        else:
            try:
                privacy.customer_erase(customer=customer, user=user, reason=request.POST.get("reason", ""))
            except ApplicationError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, _("The customer's personal data was erased."))
                return redirect("crm:customer_erase", customer_id=customer.pk)
    return render(request, "crm/erase.html", {"customer": customer, "order_count": customer.work_orders.count()})
