"""The crm pages in the console: who may open them, and that they call the services."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import NoReverseMatch, reverse

from server.accounts.models import Role
from server.common.models import AuditAction, AuditEntry
from server.crm.models import ImportJob, Reminder
from server.crm.services.exports import IMPORT_COLUMNS
from server.crm.services.reminders import reminders_queue
from server.customers.models import Customer
from server.workorders.models import WorkOrder
from tests import factories

pytestmark = pytest.mark.django_db

STUB_BASE = (
    "{% block title %}{% endblock %}"
    "{% for message in messages %}<p class='msg'>{{ message }}</p>{% endfor %}"
    "{% block content %}{% endblock %}"
)


@pytest.fixture(autouse=True)
def _console_base(settings, tmp_path):
    """Until the console's URLs are mounted, its base template cannot render: use a stub then."""
    try:
        reverse("console:home")
    except NoReverseMatch:
        (tmp_path / "console").mkdir()
        (tmp_path / "console" / "base.html").write_text(STUB_BASE)
        templates = [dict(engine) for engine in settings.TEMPLATES]
        templates[0]["DIRS"] = [tmp_path, *templates[0].get("DIRS", [])]
        settings.TEMPLATES = templates


@pytest.fixture
def login(client):
    def as_role(role: Role | None = None, *, technician: bool = False):
        user = factories.technician().user if technician else factories.user(role=role)
        client.force_login(user)
        return user

    return as_role


def _reminder() -> Reminder:
    customer = factories.customer()
    Customer.objects.filter(pk=customer.pk).update(consent_reminders=True)
    return reminders_queue(today=dt.date(2025, 12, 25))[0]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("crm:reminders", []),
        ("crm:dormant", []),
        ("crm:exports", []),
        ("crm:export_download", ["customers", "csv"]),
        ("crm:imports", []),
    ],
)
def test_technicians_get_403_everywhere(client, login, name, args):
    login(technician=True)
    assert client.get(reverse(name, args=args)).status_code == 403


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(reverse("crm:reminders"))
    assert response.status_code == 302


@pytest.mark.parametrize("role", [Role.AGENT, Role.DISPATCHER])
def test_exports_imports_and_erasure_are_refused_for_other_staff(client, login, role):
    customer = factories.customer()
    login(role)
    for url in (
        reverse("crm:exports"),
        reverse("crm:export_download", args=["customers", "xlsx"]),
        reverse("crm:imports"),
        reverse("crm:customer_data", args=[customer.pk]),
        reverse("crm:customer_erase", args=[customer.pk]),
    ):
        assert client.get(url).status_code == 403, url
    assert (
        client.post(reverse("crm:customer_erase", args=[customer.pk]), {"reason": "x", "confirm": "yes"}).status_code
        == 403
    )
    assert not AuditEntry.objects.exists()
    customer.refresh_from_db()
    assert customer.erased_at is None


def test_agents_see_reminders_and_create_the_order_once(client, login):
    reminder = _reminder()
    login(Role.AGENT)
    page = client.get(reverse("crm:reminders"))
    assert page.status_code == 200
    assert f'data-reminder="{reminder.pk}"' in page.content.decode()
    url = reverse("crm:reminder_order", args=[reminder.pk])
    assert client.post(url).status_code == 302
    assert client.post(url).status_code == 302
    assert WorkOrder.objects.count() == 1
    reminder.refresh_from_db()
    assert reminder.work_order is not None
    assert f'data-reminder="{reminder.pk}"' not in client.get(reverse("crm:reminders")).content.decode()


def test_the_pages_speak_both_languages(client, login):
    _reminder()
    login(Role.AGENT)
    assert "保养提醒" in client.get(reverse("crm:reminders"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Maintenance reminders" in client.get(reverse("crm:reminders"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_dormant_list_hides_numbers_from_agents(client, login, settings):
    settings.DORMANT_MONTHS = 1
    customer = factories.customer(phone="+8613800138555")
    Customer.objects.filter(pk=customer.pk).update(created_at=customer.created_at - dt.timedelta(days=60))
    login(Role.AGENT)
    agent_page = client.get(reverse("crm:dormant")).content.decode()
    assert f'data-customer="{customer.pk}"' in agent_page
    assert "+8613800138555" not in agent_page
    login(Role.DISPATCHER)
    assert "+8613800138555" in client.get(reverse("crm:dormant")).content.decode()


def test_a_supervisor_downloads_an_export(client, login):
    factories.customer(phone="+8613800138777")
    login(Role.SUPERVISOR)
    assert client.get(reverse("crm:exports")).status_code == 200
    response = client.get(reverse("crm:export_download", args=["customers", "csv"]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="fixroute-customers-')
    assert "+8613800138777" in response.content.decode("utf-8-sig")
    assert AuditEntry.objects.filter(action=AuditAction.EXPORTED).count() == 1


def test_an_upload_shows_the_per_row_report(client, login, django_capture_on_commit_callbacks):
    login(Role.ADMIN)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IMPORT_COLUMNS)
    writer.writerow(["王芳", "13800138101", "zh-CN", "北京市朝阳区建国路1号", "", "", "", "", "", "1"])
    writer.writerow(["李雷", "12345", "zh-CN", "北京市海淀区1号", "", "", "", "", "", "0"])
    upload = io.BytesIO(out.getvalue().encode())
    upload.name = "list.csv"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("crm:imports"), {"file": upload}, HTTP_ACCEPT_LANGUAGE="en")
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:import_job", args=[job.pk])
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "1 row not imported" in page
    assert "&#x27;12345&#x27; is not a valid phone number." in page
    partial = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="import-progress"')
    assert "hx-trigger" not in partial  # done: polling stops
    assert Customer.objects.filter(phone="+8613800138101").exists()


def test_a_running_import_polls_for_progress(client, login):
    login(Role.SUPERVISOR)
    job = ImportJob.objects.create(file_name="big.csv", data=b"x", status="running", total=1000, done=250)
    partial = client.get(reverse("crm:import_job", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in partial
    assert 'value="25"' in partial


def test_a_supervisor_exports_and_erases_one_customer(client, login):
    customer = factories.customer(name="欧阳娜娜", phone="+8613912345678")
    login(Role.SUPERVISOR)
    data = client.get(reverse("crm:customer_data", args=[customer.pk]))
    assert data.status_code == 200
    assert data.json()["customer"]["name"] == "欧阳娜娜"
    url = reverse("crm:customer_erase", args=[customer.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"reason": "request"})  # not confirmed: nothing happens
    customer.refresh_from_db()
    assert customer.erased_at is None
    assert client.post(url, {"reason": "customer's request", "confirm": "yes"}).status_code == 302
    customer.refresh_from_db()
    assert customer.erased_at is not None
    assert customer.name == ""
    assert customer.phone is None
    assert "欧阳娜娜" not in client.get(url).content.decode()
