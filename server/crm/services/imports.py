"""Import of customers, sites and equipment from CSV or Excel, with a per-row report.

Every row is checked first; then the good rows are written, each inside its own savepoint, so
a row is either wholly imported (customer, site and equipment) or not at all. A customer whose
phone is already known is updated and gets the row's site and equipment added (an address or a
piece of equipment it already has is not added twice). Two rows with the same phone must
describe the same customer (name, language, consent), and a row repeating an earlier one is a
duplicate: both are reported as errors. Sites get the typed coordinates or none (then staff
review them): geocoding thousands of addresses inline would only hit the geocoder's rate limit.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from server.care.models import ConsentKind, ConsentSource
from server.care.services import consent_set
from server.common.audit import audit_record
from server.common.exceptions import ApplicationError, NotFound, ValidationFailed
from server.common.models import AuditAction
from server.common.phones import InvalidPhoneNumber, phone_to_e164
from server.crm.models import ImportJob, ImportJobStatus
from server.crm.services.exports import IMPORT_COLUMNS
from server.crm.services.privacy import require_export_role
from server.customers.models import Customer, Equipment, Language, Site
from server.customers.services import site_create
from server.technicians.models import Skill

# Rows written per transaction (each row in its own savepoint inside it); progress is saved then.
BATCH = 250
MAX_ERRORS = 10_000

_ALIASES = {
    "customer_name": "name",
    "customer": "name",
    "姓名": "name",
    "客户": "name",
    "电话": "phone",
    "手机": "phone",
    "phone_number": "phone",
    "语言": "language",
    "地址": "address",
    "纬度": "latitude",
    "lat": "latitude",
    "经度": "longitude",
    "lon": "longitude",
    "lng": "longitude",
    "设备类型": "equipment_type",
    "type": "equipment_type",
    "型号": "model",
    "安装日期": "install_date",
    "installed": "install_date",
    "reminders": "consent_reminders",
    "同意提醒": "consent_reminders",
}
_TRUE = {"1", "yes", "y", "true", "t", "是", "同意", "x"}
_FALSE = {"", "0", "no", "n", "false", "f", "否", "不同意"}
_LANGUAGES = {"zh-cn": Language.ZH_CN, "zh": Language.ZH_CN, "zh-hans": Language.ZH_CN, "中文": Language.ZH_CN,
              "en": Language.EN, "english": Language.EN, "": Language.ZH_CN}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass(slots=True)
class ImportRow:
    row: int
    name: str
    phone: str
    language: str
    address: str
    latitude: float | None
    longitude: float | None
    equipment_type: str
    model: str
    install_date: dt.date | None
    consent_reminders: bool


@dataclass(slots=True)
class ImportReport:
    total: int = 0
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)


# --- Reading ---------------------------------------------------------------------------------


def _header_key(value: Any) -> str:
    key = str(value or "").strip().lower().replace(" ", "_").replace("-", "_")
    return _ALIASES.get(key, key)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a phone typed as a number in Excel
    text = str(value).strip()
    # Undo the exporter's guard against spreadsheet formulas ("'=…" → "=…").
    if text.startswith("'") and text[1:2] in ("=", "+", "-", "@"):
        text = text[1:]
    return text


def _read_rows(*, file_name: str, data: bytes) -> Iterator[list[Any]]:
    if file_name.lower().endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
            raise ValidationFailed(_("This file is not an Excel workbook (.xlsx).")) from error
        sheet = workbook.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield list(values)
        workbook.close()
        return
    if not file_name.lower().endswith((".csv", ".txt")):
        raise ValidationFailed(_("Upload a .csv or .xlsx file."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030", errors="replace")  # CSV saved by a Chinese Excel
    yield from csv.reader(io.StringIO(text))


def rows_read(*, file_name: str, data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """The data rows as ``(row number in the file, {column: value})``; empty rows skipped."""
    rows = _read_rows(file_name=file_name, data=data)
    header = next(rows, None)
    if header is None:
        raise ValidationFailed(_("The file is empty."))
    keys = [_header_key(value) for value in header]
    missing = [column for column in ("phone", "address") if column not in keys]
    if missing:
        raise ValidationFailed(
            _("The first row must name the columns; missing: %(columns)s. Expected: %(expected)s.")
            % {"columns": ", ".join(missing), "expected": ", ".join(IMPORT_COLUMNS)}
        )
    found: list[tuple[int, dict[str, Any]]] = []
    for number, values in enumerate(rows, start=2):
        if not any(_text(value) for value in values):
            continue
        found.append((number, {key: values[i] if i < len(values) else None for i, key in enumerate(keys)}))
    return found


# --- Checking --------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    if not text:
        return None
    for pattern in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"):
        try:
            return dt.datetime.strptime(text[:11], pattern).date()  # noqa: DTZ007 a calendar date
        except ValueError:
            continue
    raise ValueError(text)


def row_check(number: int, values: dict[str, Any]) -> tuple[ImportRow | None, list[RowError]]:
    """One row checked on its own: the row ready to write, or its errors (every bad field)."""
    errors: list[RowError] = []

    def bad(column: str, message: str) -> None:
        errors.append(RowError(number, column, message))

    phone = ""
    try:
        phone = phone_to_e164(_text(values.get("phone")))
    except InvalidPhoneNumber:
        raw = _text(values.get("phone"))
        bad("phone", _("'%(phone)s' is not a valid phone number.") % {"phone": raw} if raw else _("Phone is missing."))
    address = " ".join(_text(values.get("address")).split())
    if not address:
        bad("address", _("Address is missing."))
    elif len(address) > Site._meta.get_field("address").max_length:  # type: ignore[operator]
        bad("address", _("Address is too long."))
    latitude = longitude = None
    try:
        latitude = _number(values.get("latitude"))
        if latitude is not None and not -90 <= latitude <= 90:
            bad("latitude", _("Latitude must be between -90 and 90."))
    except (TypeError, ValueError):
        bad("latitude", _("Latitude is not a number."))
    try:
        longitude = _number(values.get("longitude"))
        if longitude is not None and not -180 <= longitude <= 180:
            bad("longitude", _("Longitude must be between -180 and 180."))
    except (TypeError, ValueError):
        bad("longitude", _("Longitude is not a number."))
    if (latitude is None) != (longitude is None) and not any(e.field in ("latitude", "longitude") for e in errors):
        bad("latitude", _("Give both latitude and longitude, or neither."))
    language = _LANGUAGES.get(_text(values.get("language")).lower())
    if language is None:
        bad("language", _("Language must be zh-CN or en."))
    install_date = None
    try:
        install_date = _date(values.get("install_date"))
    except (TypeError, ValueError):
        bad("install_date", _("Install date must be a date like 2024-05-31."))
    consent_text = _text(values.get("consent_reminders")).lower()
    if consent_text not in _TRUE | _FALSE:
        bad("consent_reminders", _("Reminder consent must be 1 or 0 (yes or no)."))
    equipment_type = _text(values.get("equipment_type"))
    model = _text(values.get("model"))
    if (model or install_date) and not equipment_type:
        bad("equipment_type", _("Equipment type is missing (the row has a model or an install date)."))
    name = _text(values.get("name"))
    for column, text, limit in (("name", name, 200), ("equipment_type", equipment_type, 100), ("model", model, 100)):
        if len(text) > limit:
            bad(column, _("Too long (at most %(limit)s characters).") % {"limit": limit})
    if errors:
        return None, errors
    assert language is not None
    return (
        ImportRow(
            row=number,
            name=name,
            phone=phone,
            language=language,
            address=address,
            latitude=latitude,
            longitude=longitude,
            equipment_type=equipment_type,
            model=model,
            install_date=install_date,
            consent_reminders=consent_text in _TRUE,
        ),
        [],
    )


def rows_check(rows: list[tuple[int, dict[str, Any]]]) -> tuple[list[ImportRow], list[RowError]]:
    """Every row checked, and the rows checked against each other (duplicates)."""
    good: list[ImportRow] = []
    errors: list[RowError] = []
    customers: dict[str, ImportRow] = {}
    seen: dict[tuple[Any, ...], int] = {}
    for number, values in rows:
        row, row_errors = row_check(number, values)
        if row is None:
            errors.extend(row_errors)
            continue
        first = customers.setdefault(row.phone, row)
        if (first.name, first.language, first.consent_reminders) != (row.name, row.language, row.consent_reminders):
            errors.append(
                RowError(
                    number,
                    "phone",
                    _("Duplicate phone: row %(row)s has this number for a different customer.") % {"row": first.row},
                )
            )
            continue
        key = (row.phone, row.address, row.equipment_type, row.model, row.install_date)
        if key in seen:
            errors.append(RowError(number, "phone", _("Duplicate of row %(row)s.") % {"row": seen[key]}))
            continue
        seen[key] = number
        good.append(row)
    return good, errors


# --- Writing ---------------------------------------------------------------------------------


class _Writer:
    """Writes checked rows, remembering what it has read or created (no query per lookup)."""

    def __init__(self, phones: set[str], *, user: User | None, file_name: str) -> None:
        self.user, self.note = user, f"import: {file_name}"[:300]
        self.customers: dict[str, Customer] = {}
        ordered = sorted(phones)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            self.customers.update((c.phone, c) for c in Customer.objects.filter(phone__in=chunk) if c.phone)
        self.existing = set(self.customers)
        self.sites: dict[tuple[int, str], Site] = {}
        self.equipment: set[tuple[int, str, str, dt.date | None]] = set()
        self.loaded: set[int] = set()
        self.with_site: set[int] = set()  # customers known to have a site (the next is not primary)
        self.skills = {skill.code: skill for skill in Skill.objects.all()}

    def _load(self, customer: Customer) -> None:
        """An existing customer's sites and equipment, read once."""
        if customer.pk in self.loaded:
            return
        self.loaded.add(customer.pk)
        for site in Site.objects.filter(customer=customer):
            self.sites.setdefault((customer.pk, site.address), site)
            self.with_site.add(customer.pk)
        for site_id, kind, model, installed in Equipment.objects.filter(site__customer=customer).values_list(
            "site_id", "equipment_type", "model", "install_date"
        ):
            self.equipment.add((site_id, kind, model, installed))

    def write(self, row: ImportRow) -> tuple[Customer, Site]:
        customer = self.customers.get(row.phone)
        if customer is None:
            customer = Customer.objects.create(name=row.name, phone=row.phone, language=row.language)
            self.loaded.add(customer.pk)
        else:
            if row.phone in self.existing:
                self._load(customer)
            changed = {
                name: value
                for name, value in (
                    ("name", row.name or customer.name),
                    ("language", row.language),
                )
                if getattr(customer, name) != value
            }
            if changed:
                for name, value in changed.items():
                    setattr(customer, name, value)
                customer.save(update_fields=[*changed, "updated_at"])
        if customer.consent_reminders != row.consent_reminders:
            # The consent history says when and how: "imported", by whom, from which file.
            consent_set(
                customer=customer,
                kind=ConsentKind.REMINDERS,
                given=row.consent_reminders,
                source=ConsentSource.IMPORT,
                recorded_by=self.user,
                note=self.note,
            )
            customer.consent_reminders = row.consent_reminders
        site = self.sites.get((customer.pk, row.address))
        if site is None:
            site = site_create(
                customer=customer,
                address=row.address,
                latitude=row.latitude,
                longitude=row.longitude,
                is_primary=customer.pk not in self.with_site,
                geocode=False,
            )
        if row.equipment_type:
            key = (site.pk, row.equipment_type, row.model, row.install_date)
            if key not in self.equipment:
                Equipment.objects.create(
                    site=site,
                    equipment_type=row.equipment_type,
                    model=row.model,
                    install_date=row.install_date,
                    required_skill=self.skills.get(row.equipment_type),
                )
        return customer, site

    def forget(self, row: ImportRow) -> None:
        """After a row rolled back: its customer as stored (the cached object may hold its changes)."""
        stored = Customer.objects.filter(phone=row.phone).first()
        if stored is None:
            self.customers.pop(row.phone, None)
        else:
            self.customers[row.phone] = stored

    def remember(self, row: ImportRow, written: tuple[Customer, Site]) -> None:
        """Cache what a row wrote, once its savepoint is released (a rolled-back row leaves none)."""
        customer, site = written
        self.customers[row.phone] = customer
        self.sites[(customer.pk, row.address)] = site
        self.with_site.add(customer.pk)
        if row.equipment_type:
            self.equipment.add((site.pk, row.equipment_type, row.model, row.install_date))


def rows_write(
    rows: list[ImportRow],
    *,
    user: User | None = None,
    file_name: str = "",
    progress: Callable[[int, int, list[RowError]], None] | None = None,
) -> tuple[int, list[RowError]]:
    """Write checked rows, each in its own savepoint, ``BATCH`` rows per transaction."""
    writer = _Writer({row.phone for row in rows}, user=user, file_name=file_name)
    imported = 0
    errors: list[RowError] = []
    for start in range(0, len(rows), BATCH):
        with transaction.atomic():
            for row in rows[start : start + BATCH]:
                try:
                    with transaction.atomic():
                        written = writer.write(row)
                except (ApplicationError, DatabaseError) as error:
                    message = error.message if isinstance(error, ApplicationError) else str(error)
                    errors.append(RowError(row.row, "", _("Not imported: %(reason)s") % {"reason": message}))
                    writer.forget(row)
                    continue
                writer.remember(row, written)
                imported += 1
            if progress is not None:
                progress(min(start + BATCH, len(rows)), imported, errors)
    return imported, errors


# --- Jobs ------------------------------------------------------------------------------------


def import_job_create(*, file_name: str, data: bytes, user: User, language: str = "zh-hans") -> ImportJob:
    """Store an upload and run it in the background (a Celery task once this commits)."""
    require_export_role(user)
    if not data:
        raise ValidationFailed(_("The file is empty."))
    job = ImportJob.objects.create(file_name=file_name[:200], data=data, created_by=user, language=language)

    def enqueue_import_run() -> None:
        from server.crm.tasks import import_run

        import_run.delay(job_id=job.pk)

    transaction.on_commit(enqueue_import_run)
    return job


def import_job_run(*, job_id: int) -> ImportJob:
    """Check every row, then write the good ones, saving progress every ``BATCH`` rows."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            raise NotFound(_("This import does not exist"))
        if job.status != ImportJobStatus.PENDING:
            return job  # a repeated task message: the job ran or runs already
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJobStatus.RUNNING)
    with translation.override(job.language):
        try:
            report = import_data(file_name=job.file_name, data=bytes(job.data), job=job)
        except ValidationFailed as error:
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportJobStatus.FAILED, message=error.message[:300], finished_at=timezone.now(), data=b""
            )
            job.refresh_from_db()
            return job
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJobStatus.DONE,
        total=report.total,
        done=report.total,
        imported=report.imported,
        errors=[error.as_dict() for error in report.errors[:MAX_ERRORS]],
        finished_at=timezone.now(),
        data=b"",
    )
    audit_record(
        user=job.created_by,
        action=AuditAction.IMPORTED,
        what=f"import: {job.file_name} ({report.imported} of {report.total} rows)",
    )
    job.refresh_from_db()
    return job


def import_data(*, file_name: str, data: bytes, job: ImportJob | None = None) -> ImportReport:
    """Read, check and write one file; ``job`` (if given) shows the progress."""
    rows = rows_read(file_name=file_name, data=data)
    good, errors = rows_check(rows)
    report = ImportReport(total=len(rows))
    checked = len(rows) - len(good)  # bad rows are done once checked
    if job is not None:
        ImportJob.objects.filter(pk=job.pk).update(
            total=len(rows), done=checked, errors=[e.as_dict() for e in errors[:MAX_ERRORS]]
        )

    def progress(written: int, imported: int, write_errors: list[RowError]) -> None:
        if job is not None:
            ImportJob.objects.filter(pk=job.pk).update(done=checked + written, imported=imported)

    user = job.created_by if job is not None else None
    report.imported, write_errors = rows_write(good, user=user, file_name=file_name, progress=progress)
    report.errors = sorted([*errors, *write_errors], key=lambda error: error.row)
    return report


def import_file(*, file_name: str, data: bytes, user: User | None) -> ImportJob:
    """Import at once, in this process (the management command, the benchmark)."""
    job = ImportJob.objects.create(file_name=file_name[:200], data=data, created_by=user)
    return import_job_run(job_id=job.pk)
