"""Table exports (CSV and Excel) for supervisors and administrators, written to the audit log.

Rows are read in chunks (``QuerySet.iterator``) and Excel files are written with openpyxl's
write-only workbook, so a large table never sits in memory as model objects or cells.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook

from notifications.models import SmsMessage
from server.common.audit import audit_record
from server.common.exceptions import ValidationFailed
from server.common.models import AuditAction
from server.crm.services.privacy import require_export_role
from server.customers.models import Customer, Equipment, Site
from server.intake.models import CallRecord
from server.workorders.models import WorkOrder, WorkOrderEvent

CHUNK = 2000
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")

# The one-sheet layout the importer reads: one row per piece of equipment (or per site, or per
# customer, when there is none), the customer's columns repeated.
IMPORT_COLUMNS = (
    "name",
    "phone",
    "language",
    "address",
    "latitude",
    "longitude",
    "equipment_type",
    "model",
    "install_date",
    "consent_reminders",
)

# A text cell starting with one of these is a formula to a spreadsheet ("CSV injection"): it is
# written with a leading apostrophe, which the importer strips. A phone number "+86…" is not.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d[\d.]*$")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        return local.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


@dataclass(frozen=True, slots=True)
class Table:
    label: Promise
    columns: tuple[str, ...]
    rows: Callable[[], Iterable[Iterable[Any]]]


def _values(queryset: QuerySet[Any], *fields: str) -> Iterator[tuple[Any, ...]]:
    return queryset.order_by("pk").values_list(*fields).iterator(chunk_size=CHUNK)


def _records() -> Iterator[tuple[Any, ...]]:
    """Customers, sites and equipment in the import layout (phone is the customer's key)."""
    customers = Customer.objects.filter(erased_at__isnull=True).order_by("pk")
    sites = Site.objects.filter(customer__erased_at__isnull=True).order_by("customer_id", "pk")
    equipment = Equipment.objects.filter(site__customer__erased_at__isnull=True).order_by(
        "site__customer_id", "site_id", "pk"
    )
    site_rows = sites.values_list("customer_id", "pk", "address", "latitude", "longitude").iterator(chunk_size=CHUNK)
    equipment_rows = equipment.values_list(
        "site__customer_id", "site_id", "equipment_type", "model", "install_date"
    ).iterator(chunk_size=CHUNK)
    # A merge of three streams in the same (customer, site) order: no query per customer.
    next_site = next(site_rows, None)
    next_item = next(equipment_rows, None)
    for pk, name, phone, language, consent in customers.values_list(
        "pk", "name", "phone", "language", "consent_reminders"
    ).iterator(chunk_size=CHUNK):
        head = (name, phone or "", language)
        wrote = False
        while next_site is not None and next_site[0] < pk:
            next_site = next(site_rows, None)
        while next_site is not None and next_site[0] == pk:
            site_key, address, lat, lon = next_site[:2], next_site[2], next_site[3], next_site[4]
            while next_item is not None and next_item[:2] < site_key:
                next_item = next(equipment_rows, None)
            site_wrote = False
            while next_item is not None and next_item[:2] == site_key:
                yield (*head, address, lat, lon, next_item[2], next_item[3], next_item[4], consent)
                site_wrote = wrote = True
                next_item = next(equipment_rows, None)
            if not site_wrote:
                yield (*head, address, lat, lon, "", "", None, consent)
                wrote = True
            next_site = next(site_rows, None)
        if not wrote:
            yield (*head, "", None, None, "", "", None, consent)


def _event_rows() -> Iterator[tuple[Any, ...]]:
    for pk, *rest in _values(
        WorkOrderEvent.objects.all(),
        "work_order_id", "created_at", "kind", "from_status", "to_status", "actor_label", "text",
    ):  # fmt: skip
        yield (f"WO-{pk:06d}", *rest)


def _order_rows() -> Iterator[tuple[Any, ...]]:
    for pk, *rest in _values(
        WorkOrder.objects.all(),
        "pk", "customer_id", "customer__phone", "site_id", "equipment_id", "equipment__equipment_type",
        "status", "priority", "source", "problem", "technician__name", "scheduled_day", "planned_arrival",
        "promised_start", "promised_end", "complaint", "needs_review", "created_at",
    ):  # fmt: skip
        yield (f"WO-{pk:06d}", *rest)


TABLES: dict[str, Table] = {
    "records": Table(_("Customers, sites and equipment (import layout)"), IMPORT_COLUMNS, _records),
    "customers": Table(
        _("Customers"),
        (
            "id", "name", "phone", "language", "consent_service_sms", "consent_reminders", "consent_marketing",
            "needs_review", "complaint_open", "created_at", "erased_at",
        ),
        lambda: _values(
            Customer.objects.all(),
            "pk", "name", "phone", "language", "consent_service_sms", "consent_reminders", "consent_marketing",
            "needs_review", "complaint_open", "created_at", "erased_at",
        ),
    ),
    "sites": Table(
        _("Sites"),
        ("id", "customer_id", "address", "latitude", "longitude", "location_source", "access_notes", "is_primary"),
        lambda: _values(
            Site.objects.all(),
            "pk", "customer_id", "address", "latitude", "longitude", "location_source", "access_notes", "is_primary",
        ),
    ),
    "equipment": Table(
        _("Equipment"),
        ("id", "site_id", "customer_id", "equipment_type", "model", "serial_number", "install_date", "required_skill"),
        lambda: _values(
            Equipment.objects.all(),
            "pk", "site_id", "site__customer_id", "equipment_type", "model", "serial_number", "install_date",
            "required_skill__code",
        ),
    ),
    "work_orders": Table(
        _("Work orders"),
        (
            "reference", "customer_id", "customer_phone", "site_id", "equipment_id", "equipment_type", "status",
            "priority", "source", "problem", "technician", "scheduled_day", "planned_arrival", "promised_start",
            "promised_end", "complaint", "needs_review", "created_at",
        ),
        _order_rows,
    ),
    "events": Table(
        _("Work-order events"),
        ("work_order", "at", "kind", "from_status", "to_status", "by", "text"),
        _event_rows,
    ),
    "calls": Table(
        _("Calls"),
        (
            "id", "at", "provider", "call_id", "caller_raw", "caller_phone", "called_number", "call_status",
            "ivr_digits", "outcome", "reason", "customer_id", "work_order_id",
        ),
        lambda: _values(
            CallRecord.objects.all(),
            "pk", "created_at", "provider", "call_id", "caller_raw", "caller_phone", "called_number", "call_status",
            "ivr_digits", "outcome", "reason", "customer_id", "work_order_id",
        ),
    ),
    "sms": Table(
        _("SMS log"),
        ("id", "at", "to", "kind", "language", "status", "body", "attempts", "sent_at", "customer_id", "work_order_id"),
        lambda: _values(
            SmsMessage.objects.all(),
            "pk", "created_at", "to", "kind", "language", "status", "body", "attempts", "sent_at", "customer_id",
            "work_order_id",
        ),
    ),
}  # fmt: skip


def table_rows_csv(table: Table) -> Iterator[bytes]:
    """The table as CSV, a chunk of encoded lines at a time (UTF-8 with BOM, for Excel)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.columns)
    first = True
    for count, row in enumerate(table.rows(), start=1):
        writer.writerow([_cell(value) for value in row])
        if count % 1000 == 0:
            yield (("\ufeff" if first else "") + buffer.getvalue()).encode()
            first = False
            buffer.seek(0)
            buffer.truncate()
    yield (("\ufeff" if first else "") + buffer.getvalue()).encode()


def table_xlsx(table: Table, *, title: str) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(list(table.columns))
    for row in table.rows():
        # Text stays text (a phone number is never turned into a number); numbers stay numbers.
        sheet.append([_cell(value) for value in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def export_table(*, table: str, fmt: str, user: User) -> tuple[str, bytes, str]:
    """One table as a file: ``(file name, content, content type)``; supervisors and admins only."""
    require_export_role(user)
    spec = TABLES.get(table)
    if spec is None:
        raise ValidationFailed(gettext("Unknown table “%(table)s”") % {"table": table}, extra={"tables": list(TABLES)})
    if fmt not in FORMATS:
        raise ValidationFailed(
            gettext("Unknown format “%(format)s”: use csv or xlsx") % {"format": fmt}, extra={"format": fmt}
        )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    filename = f"fixroute-{table}-{stamp}.{fmt}"
    if fmt == "csv":
        content, content_type = b"".join(table_rows_csv(spec)), CSV_TYPE
    else:
        content, content_type = table_xlsx(spec, title=table), XLSX_TYPE
    audit_record(user=user, action=AuditAction.EXPORTED, what=f"export: {table} ({fmt})")
    return filename, content, content_type
