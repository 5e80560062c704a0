"""Export and import: tables as CSV and Excel, a round trip, and a per-row report of bad rows."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import IntegrityError
from openpyxl import Workbook, load_workbook

from notifications.models import SmsMessage
from server.accounts.models import Role
from server.care.models import ConsentRecord
from server.common.exceptions import PermissionDenied, ValidationFailed
from server.common.models import AuditAction, AuditEntry
from server.crm.models import ImportJob
from server.crm.services.exports import IMPORT_COLUMNS, TABLES, export_table
from server.crm.services.imports import import_data, import_file, import_job_create
from server.customers.models import Customer, Equipment, Site
from server.intake.models import CallRecord
from server.workorders.models import WorkOrder, WorkOrderEvent
from tests import factories

pytestmark = pytest.mark.django_db


def _supervisor():
    return factories.user(role=Role.SUPERVISOR)


def _sample_data() -> None:
    first = factories.customer(name="赵敏", phone="+8613800138001")
    Customer.objects.filter(pk=first.pk).update(consent_reminders=True)
    second_site = Site.objects.create(
        customer=first, address="上海市浦东新区世纪大道100号", latitude=31.24, longitude=121.5, is_primary=False
    )
    Equipment.objects.create(
        site=second_site, equipment_type="air_conditioner", model="KFR-35", install_date=dt.date(2023, 6, 30)
    )
    Equipment.objects.create(site=second_site, equipment_type="washing_machine")
    english = factories.customer(
        name="Ann Lee",
        phone="+447911123456",
        language="en",
        equipment_skill=None,
        lat=None,
        lon=None,
        address="1 High St, London",
    )
    Site.objects.filter(customer=english).update(location_source="none")
    factories.customer(name='=HYPERLINK("http://x")', phone="+8613800138003", equipment_skill=None, address="@home")
    factories.customer(name="", phone="+8613800138004", address="杭州市西湖区文三路1号")  # fmt: skip


def _snapshot() -> set[tuple]:
    """What the import layout carries, independent of ids."""
    rows = set()
    for customer in Customer.objects.all():
        head = (customer.name, customer.phone, customer.language, customer.consent_reminders)
        sites = list(customer.sites.all())
        if not sites:
            rows.add((*head, None))
        for site in sites:
            place = (site.address, site.latitude, site.longitude, site.is_primary)
            items = list(site.equipment.all())
            if not items:
                rows.add((*head, place, None))
            for item in items:
                skill = item.required_skill.code if item.required_skill else None
                rows.add((*head, place, (item.equipment_type, item.model, item.install_date, skill)))
    return rows


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_into_an_empty_database_round_trips(fmt):
    _sample_data()
    before = _snapshot()
    assert len(before) == 6
    filename, content, _type = export_table(table="records", fmt=fmt, user=_supervisor())
    assert filename.endswith(f".{fmt}")
    Customer.objects.all().delete()
    assert not Site.objects.exists()
    job = import_file(file_name=filename, data=content, user=None)
    assert job.errors == []
    assert (job.status, job.imported, job.total) == ("done", 6, 6)
    assert _snapshot() == before


def test_a_customer_without_an_address_is_exported_and_reported_on_import():
    """The importer needs an address (orders are dispatched to it); such a customer is a row error."""
    Customer.objects.create(name="来电未识别", phone="+8613800138009")
    _name, content, _type = export_table(table="records", fmt="csv", user=_supervisor())
    Customer.objects.all().delete()
    report = import_data(file_name="r.csv", data=content)
    assert [(e.row, e.field) for e in report.errors] == [(2, "address")]
    assert not Customer.objects.exists()


def test_csv_export_writes_phones_as_text_and_disarms_formulas():
    _sample_data()
    _name, content, content_type = export_table(table="records", fmt="csv", user=_supervisor())
    assert content_type.startswith("text/csv")
    assert content.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads the Chinese right
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert list(rows[0]) == list(IMPORT_COLUMNS)
    assert {row["phone"] for row in rows} >= {"+8613800138001", "+447911123456"}
    assert '\'=HYPERLINK("http://x")' in {row["name"] for row in rows}


def test_xlsx_export_keeps_phone_numbers_as_text():
    _sample_data()
    _name, content, _type = export_table(table="customers", fmt="xlsx", user=_supervisor())
    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows())
    header = [cell.value for cell in rows[0]]
    phone_cells = [row[header.index("phone")] for row in rows[1:]]
    assert {cell.value for cell in phone_cells} >= {"+8613800138001", "+447911123456"}
    assert {cell.data_type for cell in phone_cells} == {"s"}


@pytest.mark.parametrize("table", list(TABLES))
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_table_exports_in_both_formats(table, fmt):
    _sample_data()
    order = WorkOrder.objects.create(customer=Customer.objects.first(), problem="漏水")
    WorkOrderEvent.objects.create(work_order=order, kind="note", text="客户在家")
    SmsMessage.objects.create(to="+8613800138001", body="您好", language="zh-CN", kind="other", provider="memory")
    CallRecord.objects.create(provider="cti", call_id="c9", caller_raw="13800138001", customer=order.customer)
    _name, content, _type = export_table(table=table, fmt=fmt, user=_supervisor())
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    else:
        rows = [
            list(r)
            for r in load_workbook(io.BytesIO(content), read_only=True).worksheets[0].iter_rows(values_only=True)
        ]
    assert tuple(rows[0]) == TABLES[table].columns
    assert len(rows) > 1
    entry = AuditEntry.objects.get()
    assert entry.action == AuditAction.EXPORTED
    assert entry.what == f"export: {table} ({fmt})"


def test_exports_are_refused_for_agents_dispatchers_and_technicians():
    _sample_data()
    for user in (factories.staff(), factories.user(role=Role.DISPATCHER), factories.technician().user):
        with pytest.raises(PermissionDenied):
            export_table(table="customers", fmt="csv", user=user)
    assert not AuditEntry.objects.exists()


def test_an_unknown_table_or_format_is_refused():
    with pytest.raises(ValidationFailed):
        export_table(table="auth_user", fmt="csv", user=_supervisor())
    with pytest.raises(ValidationFailed):
        export_table(table="customers", fmt="pdf", user=_supervisor())


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IMPORT_COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode()


GOOD = [
    "王芳",
    "13800138101",
    "zh-CN",
    "北京市朝阳区建国路1号",
    "39.9",
    "116.4",
    "water_purifier",
    "RO-1",
    "2024-03-01",
    "1",
]


def test_bad_rows_are_reported_each_and_the_good_rows_imported():
    rows = [
        GOOD,  # row 2
        ["李雷", "12345", "zh-CN", "北京市海淀区1号", "", "", "", "", "", "0"],  # 3: bad phone
        ["韩梅梅", "13800138103", "en", "", "", "", "", "", "", "0"],  # 4: no address
        ["张三", "13800138101", "zh-CN", "北京市东城区2号", "", "", "", "", "", "0"],  # 5: same phone, another name
        GOOD,  # 6: a repeat of row 2
        ["赵六", "13800138106", "fr", "广州市天河区3号", "95", "113", "", "", "not a date", "maybe"],  # 7: four errors
        [
            "王芳",
            "13800138101",
            "zh-CN",
            "北京市朝阳区建国路1号",
            "39.9",
            "116.4",
            "hvac",
            "",
            "2023/05/06",
            "1",
        ],  # 8: ok
        ["Bob", "+8613800138108", "en", "深圳市南山区4号", "", "", "", "", "", "yes"],  # 9: ok
    ]
    report = import_data(file_name="customers.csv", data=_csv(rows))
    assert report.total == 8
    assert report.imported == 3
    found = {(e.row, e.field) for e in report.errors}
    assert found == {
        (3, "phone"),
        (4, "address"),
        (5, "phone"),
        (6, "phone"),
        (7, "latitude"),
        (7, "language"),
        (7, "install_date"),
        (7, "consent_reminders"),
    }
    assert all(e.message for e in report.errors)
    assert [e.row for e in report.errors] == sorted(e.row for e in report.errors)
    # Nothing half-imported: no customer from a bad row, the good ones whole.
    assert set(Customer.objects.values_list("phone", flat=True)) == {"+8613800138101", "+8613800138108"}
    wang = Customer.objects.get(phone="+8613800138101")
    assert wang.consent_reminders
    site = wang.sites.get()
    assert (site.latitude, site.longitude, site.is_primary) == (39.9, 116.4, True)
    assert sorted(site.equipment.values_list("equipment_type", "install_date")) == [
        ("hvac", dt.date(2023, 5, 6)),
        ("water_purifier", dt.date(2024, 3, 1)),
    ]
    bob = Customer.objects.get(phone="+8613800138108")
    assert bob.language == "en"
    assert bob.consent_reminders
    assert bob.sites.get().needs_review  # no coordinates: staff check it


def test_a_known_phone_updates_the_customer_and_adds_the_site():
    existing = factories.customer(name="旧名字", phone="+8613800138101", address="北京市朝阳区建国路1号")
    report = import_data(
        file_name="more.csv",
        data=_csv([GOOD, ["王芳", "13800138101", "zh-CN", "北京市朝阳区新地址9号", "", "", "", "", "", "1"]]),
    )
    assert report.errors == []
    assert report.imported == 2
    existing.refresh_from_db()
    assert existing.name == "王芳"
    assert existing.consent_reminders
    assert Customer.objects.count() == 1
    assert sorted(existing.sites.values_list("address", "is_primary")) == [
        ("北京市朝阳区建国路1号", True),
        ("北京市朝阳区新地址9号", False),
    ]
    # The factory's purifier (RO-500) stays; the file's RO-1 is added to the known address.
    assert sorted(Equipment.objects.values_list("model", flat=True)) == ["RO-1", "RO-500"]


def test_importing_the_same_file_twice_adds_nothing_the_second_time():
    data = _csv([GOOD])
    import_data(file_name="a.csv", data=data)
    import_data(file_name="a.csv", data=data)
    assert (Customer.objects.count(), Site.objects.count(), Equipment.objects.count()) == (1, 1, 1)


def test_an_excel_upload_with_native_dates_and_numbers():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(
        [
            "Customer name",
            "Phone",
            "Language",
            "Address",
            "Latitude",
            "Longitude",
            "Equipment type",
            "Model",
            "Install date",
            "Consent_reminders",
        ]
    )
    sheet.append(
        [
            "陈晨",
            13800138201,
            "zh-CN",
            "成都市武侯区1号",
            30.6,
            104.0,
            "water_heater",
            "JSQ",
            dt.date(2022, 8, 1),
            1,
        ]
    )
    out = io.BytesIO()
    workbook.save(out)
    report = import_data(file_name="list.xlsx", data=out.getvalue())
    assert report.errors == []
    assert report.imported == 1
    item = Equipment.objects.get()
    assert (item.site.customer.phone, item.install_date) == ("+8613800138201", dt.date(2022, 8, 1))


def test_a_file_without_the_columns_is_refused_whole():
    with pytest.raises(ValidationFailed):
        import_data(file_name="x.csv", data=b"foo,bar\n1,2\n")
    with pytest.raises(ValidationFailed):
        import_data(file_name="x.pdf", data=b"%PDF")
    job = import_file(file_name="x.xlsx", data=b"not a zip", user=None)
    assert job.status == "failed"
    assert job.message
    assert not Customer.objects.exists()


def test_an_import_job_runs_after_commit_and_keeps_the_report(django_capture_on_commit_callbacks):
    supervisor = _supervisor()
    bad = ["X", "000", "zh-CN", "某地", "", "", "", "", "", "0"]
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(file_name="up.csv", data=_csv([GOOD, bad]), user=supervisor)
        assert job.status == "pending"
    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.imported) == ("done", 2, 2, 1)
    assert job.errors == [{"row": 3, "field": "phone", "message": "“000”不是有效的电话号码。"}]
    assert bytes(job.data) == b""  # the upload is not kept once imported
    entry = AuditEntry.objects.get(action=AuditAction.IMPORTED)
    assert entry.user == supervisor
    assert "1 of 2" in entry.what


def test_imported_consent_is_recorded_as_imported_by_whom(django_capture_on_commit_callbacks):
    supervisor = _supervisor()
    known = factories.customer(name="王芳", phone="+8613800138101")
    no = ["Bob", "+8613800138108", "en", "深圳市南山区4号", "", "", "", "", "", "0"]
    with django_capture_on_commit_callbacks(execute=True):
        import_job_create(file_name="consent.csv", data=_csv([GOOD, no]), user=supervisor)
    record = ConsentRecord.objects.get()  # only the yes is a change; a new customer starts at no
    assert record.customer_id == known.pk
    assert (record.kind, record.given, record.source) == ("reminders", True, "import")
    assert record.recorded_by == supervisor
    assert record.note == "import: consent.csv"
    assert Customer.objects.get(pk=known.pk).consent_reminders
    assert not Customer.objects.get(phone="+8613800138108").consent_reminders


def test_imports_are_refused_for_agents():
    with pytest.raises(PermissionDenied):
        import_job_create(file_name="up.csv", data=_csv([GOOD]), user=factories.staff())
    assert not ImportJob.objects.exists()


def test_the_management_command_imports_a_file_and_prints_the_report(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(_csv([GOOD, ["李雷", "12345", "zh-CN", "北京市海淀区1号", "", "", "", "", "", "0"]]))
    out = io.StringIO()
    call_command("crm_import", str(path), stdout=out)
    assert "row 3: phone:" in out.getvalue()
    assert "1 of 2 rows imported" in out.getvalue()
    assert Customer.objects.filter(phone="+8613800138101").exists()


def test_a_row_failing_while_written_leaves_nothing_behind(monkeypatch):
    """The row's customer and site are rolled back with it; the rows around it are imported."""
    create = Equipment.objects.create

    def create_or_fail(**kwargs):
        if kwargs.get("model") == "BROKEN":
            raise IntegrityError("disk full")
        return create(**kwargs)

    monkeypatch.setattr(Equipment.objects, "create", create_or_fail)
    broken = ["坏行", "13800138301", "zh-CN", "南京市鼓楼区1号", "", "", "water_purifier", "BROKEN", "", "1"]
    after = ["坏行", "13800138301", "zh-CN", "南京市鼓楼区2号", "", "", "", "", "", "1"]
    report = import_data(file_name="x.csv", data=_csv([GOOD, broken, after]))
    assert [(e.row, e.field) for e in report.errors] == [(3, "")]
    assert "disk full" in report.errors[0].message
    assert report.imported == 2
    assert not Site.objects.filter(address="南京市鼓楼区1号").exists()
    customer = Customer.objects.get(phone="+8613800138301")  # created by the later row, whole
    assert list(customer.sites.values_list("address", "is_primary")) == [("南京市鼓楼区2号", True)]
    assert customer.consent_reminders
    assert ConsentRecord.objects.filter(customer=customer).count() == 1
