"""The supervisor's callback queue and the complaint flag in the staff console."""

import datetime as dt

import pytest
from django.utils import timezone

from server.accounts.models import Role
from server.care import services as care
from server.care.models import CallbackTask
from server.customers.models import Customer
from server.scheduling import services as scheduling_services
from server.workorders import services as work_order_services
from tests import factories

pytestmark = pytest.mark.django_db

QUEUE = "/care/queue/"


@pytest.fixture(autouse=True)
def _no_replan(monkeypatch):
    monkeypatch.setattr(scheduling_services, "replan_request", lambda: None)


def tasks_aged(customer: Customer) -> list[CallbackTask]:
    """Three open tasks created 3, 2 and 1 hours ago, in a shuffled id order."""
    now = timezone.now()
    made = []
    for hours, reason in ((1, "newest-task"), (3, "oldest-task"), (2, "middle-task")):
        task = care.callback_task_create(kind="unidentified", reason=reason, customer=customer)
        CallbackTask.objects.filter(pk=task.pk).update(created_at=now - dt.timedelta(hours=hours))
        made.append(task)
    return made


def test_the_queue_lists_open_callbacks_oldest_first_and_the_button_closes_one(client):
    customer = factories.customer()
    newest, oldest, _middle = tasks_aged(customer)
    done = care.callback_task_create(kind="unidentified", reason="done-task", customer=customer)
    CallbackTask.objects.filter(pk=done.pk).update(done_at=timezone.now())
    supervisor = factories.user(role=Role.SUPERVISOR)
    client.force_login(supervisor)
    page = client.get(QUEUE)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("oldest-task") < html.index("middle-task") < html.index("newest-task")
    assert "done-task" not in html
    assert customer.phone in html  # supervisors see whole numbers
    response = client.post(f"/care/callbacks/{oldest.pk}/done/")
    assert response.status_code == 302
    assert response["Location"] == QUEUE
    oldest.refresh_from_db()
    assert oldest.done_by == supervisor
    assert oldest.done_at is not None
    assert "oldest-task" not in client.get(QUEUE).content.decode()


def test_agents_read_the_queue_but_leave_complaint_callbacks_to_a_supervisor(client):
    customer = factories.customer()
    care.complaint_raise(customer=customer, reason="shouted at us", source="staff")
    complaint = CallbackTask.objects.get()
    agent = factories.staff()
    client.force_login(agent)
    page = client.get(QUEUE)
    assert page.status_code == 200
    html = page.content.decode()
    assert "shouted at us" in html
    assert customer.phone not in html  # agents do not see numbers in lists
    assert f"/care/callbacks/{complaint.pk}/done/" not in html
    client.post(f"/care/callbacks/{complaint.pk}/done/")
    complaint.refresh_from_db()
    assert complaint.done_at is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", QUEUE),
        ("post", "/care/callbacks/{task}/done/"),
        ("post", "/care/customers/{customer}/complaint/"),
        ("post", "/care/customers/{customer}/complaint/clear/"),
    ],
)
def test_technicians_get_403_and_strangers_the_login_page(client, method, path):
    customer = factories.customer()
    task = care.callback_task_create(kind="unidentified", reason="x", customer=customer)
    url = path.format(task=task.pk, customer=customer.pk)
    data = {"reason": "because"} if method == "post" else None
    anonymous = getattr(client, method)(url, data)
    assert anonymous.status_code == 302
    assert "login" in anonymous["Location"]
    client.force_login(factories.technician().user)
    assert getattr(client, method)(url, data).status_code == 403
    task.refresh_from_db()
    customer.refresh_from_db()
    assert task.done_at is None
    assert customer.complaint_open is False


def test_staff_set_the_complaint_by_hand_and_a_supervisor_clears_it(client):
    customer = factories.customer()
    order = work_order_services.work_order_create(customer=customer, site=customer.sites.first(), problem="漏水")
    client.force_login(factories.staff())
    url = f"/care/customers/{customer.pk}/complaint/"
    refused = client.post(url, {"reason": "   ", "next": "/customers/1/"})
    assert refused.status_code == 302
    customer.refresh_from_db()
    assert customer.complaint_open is False
    response = client.post(url, {"reason": "客户要投诉师傅", "work_order": order.pk, "next": "/customers/1/"})
    assert response["Location"] == "/customers/1/"
    customer.refresh_from_db()
    order.refresh_from_db()
    assert (customer.complaint_open, order.complaint) == (True, True)
    assert order.events.get(data__complaint="raised").data["source"] == "staff"
    # Only supervisors and administrators clear it.
    clear = f"/care/customers/{customer.pk}/complaint/clear/"
    assert client.post(clear, {"reason": "sorted"}).status_code == 403
    client.force_login(factories.user(role=Role.SUPERVISOR))
    assert client.post(clear, {"reason": "called back, sorted", "next": "https://evil.example/"})["Location"] == QUEUE
    customer.refresh_from_db()
    assert customer.complaint_open is False


def test_the_queue_speaks_chinese_and_english(client):
    care.callback_task_create(kind="unidentified", reason="x", customer=factories.customer())
    client.force_login(factories.user(role=Role.SUPERVISOR))
    html = client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "回电队列" in html
    assert "已回电" in html
    english = client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Callback queue" in english
    assert "Called back" in english


def test_a_complaint_note_from_the_customer_page_turns_the_order_red(client):
    customer = factories.customer()
    order = work_order_services.work_order_create(customer=customer, site=customer.sites.first(), problem="漏水")
    client.force_login(factories.staff())
    url = f"/care/customers/{customer.pk}/notes/"
    response = client.post(url, {"text": "客户非常不满意", "work_order": order.pk, "next": "/customers/1/"})
    assert response["Location"] == "/customers/1/"
    order.refresh_from_db()
    assert order.complaint is True
    assert customer.care_notes.get().text == "客户非常不满意"
    assert client.post(url, {"text": "x", "work_order": "abc"}).status_code == 404
    assert client.post(url, {"text": "   "}).status_code == 302
    assert customer.care_notes.count() == 1
