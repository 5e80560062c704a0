"""The staff console through Django's test client: access, screen-pop polls, search, masking,
the customer page's audit and timeline, staff actions' refusals. The browser tests drive the
same pages in Chromium (test_console_browser.py)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import translation

from server.accounts.models import Role
from server.common.models import AuditAction, AuditEntry
from server.console import selectors
from server.intake import services as intake_services
from server.workorders.models import Status
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client):
    client.force_login(factories.staff())
    return client


def test_the_root_asks_for_a_login_first(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))


def test_a_technician_gets_the_403_page(client):
    client.force_login(factories.technician().user)
    for url in ("/", reverse("console:work_orders"), reverse("console:repair")):
        response = client.get(url)
        assert response.status_code == 403
        assert b'id="forbidden"' in response.content


@pytest.mark.parametrize("role", [Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN])
def test_every_staff_role_opens_the_console(client, role):
    client.force_login(factories.user(role=role))
    assert client.get("/").status_code == 200


def test_a_poll_after_the_session_ended_sends_the_page_to_the_login(client):
    response = client.get(reverse("console:call_pop"), {"after": 0}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("console:login")


def test_the_pop_answers_204_until_a_call_comes_then_the_callers_card(agent_client):
    factories.technician()
    customer = factories.customer(name="赵敏")
    after = selectors.call_latest_id()
    assert agent_client.get(reverse("console:call_pop"), {"after": after}).status_code == 204
    result = intake_services.call_receive(provider="cti", call_id="c-1", caller="138 0013 8001", reason="漏水")
    response = agent_client.get(reverse("console:call_pop"), {"after": after})
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-customer-id="{customer.pk}"' in html
    assert "赵敏" in html
    assert result.work_order.reference in html
    assert f"after={result.call.pk}" in html  # the next poll asks only for newer calls
    assert agent_client.get(reverse("console:call_pop"), {"after": result.call.pk}).status_code == 204


def test_an_unidentified_caller_pops_as_withheld_with_the_callback_task(agent_client):
    intake_services.call_receive(provider="cti", call_id="c-2", caller="anonymous")
    html = agent_client.get(reverse("console:call_pop"), {"after": 0}).content.decode()
    assert 'class="withheld"' in html
    assert "call the customer back" in html


def test_agents_see_masked_numbers_in_lists_and_supervisors_whole(client):
    factories.technician()
    customer = factories.customer(phone="+8613800138001")
    intake_services.call_receive(provider="cti", call_id="c-3", caller="+8613800138001")
    client.force_login(factories.staff())
    html = client.get(reverse("console:work_orders")).content.decode()
    assert "+86 138****8001" in html
    assert "+8613800138001" not in html
    search = client.get(reverse("console:repair_search"), {"q": "138 0013 8001"}).content.decode()
    assert "+86 138****8001" in search
    assert "+8613800138001" not in search
    client.force_login(factories.user(role=Role.SUPERVISOR))
    assert "+8613800138001" in client.get(reverse("console:work_orders")).content.decode()
    assert customer.pk


def test_the_customer_page_shows_the_whole_number_and_is_audit_logged(agent_client):
    factories.technician()
    customer = factories.customer(phone="+8613800138001")
    intake_services.call_receive(provider="cti", call_id="c-4", caller="+8613800138001", reason="不出水")
    html = agent_client.get(reverse("console:customer", args=[customer.pk])).content.decode()
    assert "+8613800138001" in html
    assert "不出水" in html  # the call on the timeline
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.customer_id, entry.what) == (AuditAction.VIEWED, customer.pk, "customer page")


@pytest.mark.parametrize(
    "query", ["WO-{pk:06d}", "{pk}", "wo-{pk}", "138-0013-8001", "+86 138 0013 8001", "赵", "南京西路"]
)
def test_the_work_order_list_finds_an_order_by_number_phone_name_or_address(agent_client, query):
    factories.technician()
    factories.customer(name="赵敏", phone="+8613800138001")
    other = factories.customer(name="李雷", phone="+8613900139002", address="北京市朝阳区")
    order = intake_services.call_receive(provider="cti", call_id="c-5", caller="+8613800138001").work_order
    other_order = intake_services.call_receive(provider="cti", call_id="c-6", caller=other.phone).work_order
    html = agent_client.get(reverse("console:work_orders"), {"q": query.format(pk=order.pk)}).content.decode()
    assert order.reference in html
    assert other_order.reference not in html


def test_the_work_order_list_filters_by_status(agent_client):
    factories.technician()
    factories.customer()
    order = intake_services.call_receive(provider="cti", call_id="c-7", caller="+8613800138001").work_order
    assert (
        order.reference in agent_client.get(reverse("console:work_orders"), {"status": order.status}).content.decode()
    )
    other = Status.CANCELLED if order.status != Status.CANCELLED else Status.NEW
    assert order.reference not in agent_client.get(reverse("console:work_orders"), {"status": other}).content.decode()


def test_the_work_order_list_filters_by_area(agent_client):
    factories.technician()
    factories.customer(name="赵敏", phone="+8613800138001", address="上海市静安区南京西路1266号")
    other = factories.customer(name="李雷", phone="+8613900139002", address="上海市浦东新区世纪大道100号")
    jingan = intake_services.call_receive(provider="cti", call_id="a-1", caller="+8613800138001").work_order
    pudong = intake_services.call_receive(provider="cti", call_id="a-2", caller=other.phone).work_order
    html = agent_client.get(reverse("console:work_orders"), {"area": "静安区"}).content.decode()
    assert jingan.reference in html
    assert pudong.reference not in html


def test_staff_actions_call_the_change_services_and_show_a_refusal(agent_client):
    factories.technician()
    factories.customer()
    order = intake_services.call_receive(provider="cti", call_id="c-8", caller="+8613800138001").work_order
    action = lambda name: reverse("console:work_order_action", args=[order.pk, name])  # noqa: E731
    agent_client.post(action("hold"), {"reason": "等配件"}, follow=True)
    order.refresh_from_db()
    assert (order.status, order.hold_reason) == (Status.ON_HOLD, "等配件")
    response = agent_client.post(action("cancel"), {"reason": ""}, follow=True)
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD  # no reason: nothing changed, the form said why
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    agent_client.post(action("cancel"), {"reason": "客户取消"}, follow=True)
    order.refresh_from_db()
    assert order.status == Status.CANCELLED
    response = agent_client.post(action("release"), follow=True)
    messages = list(response.context["messages"])
    assert [m.level_tag for m in messages] == ["error"]
    # Why, in the agent's language: the order is cancelled and cannot go back.
    assert "已取消" in str(messages[0])
    order.refresh_from_db()
    assert order.status == Status.CANCELLED


def test_the_explanation_is_rendered_as_sentences():
    explanation = {
        "chosen": "张伟",
        "candidates": [
            {"technician": "张伟", "chosen": True, "travel_minutes": 12, "arrival": "09:30", "lateness_minutes": 0},
            {"technician": "李强", "chosen": False, "reason": "lacks the skill"},
        ],
    }
    with translation.override("en"):
        assert selectors.explanation_sentences(json.loads(json.dumps(explanation))) == [
            "张伟 was chosen: 12 min drive, arrives at 09:30.",
            "Not 李强: lacks the skill.",
        ]
    with translation.override("zh-hans"):
        assert selectors.explanation_sentences(explanation) == [
            "选择了 张伟：车程 12 分钟，09:30 到达。",
            "未选 李强：lacks the skill。",
        ]


@pytest.mark.parametrize(
    ("phone", "masked"), [("+8613800138001", "+86 138****8001"), ("+14155552671", "+1 415****2671"), ("", "")]
)
def test_phone_mask(phone, masked):
    assert selectors.phone_mask(phone) == masked


def test_a_staff_note_is_saved_through_care_and_shown_on_the_timeline(agent_client):
    factories.technician()
    customer = factories.customer()
    intake_services.call_receive(provider="cti", call_id="c-9", caller="+8613800138001")
    url = reverse("console:customer_note_add", args=[customer.pk])
    response = agent_client.post(url, {"text": "客户说周末在家"}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "客户说周末在家" in html
    assert 'class="t-note' in html


def test_a_complaint_note_marks_the_customer_red_on_their_page(agent_client):
    factories.technician()
    customer = factories.customer()
    intake_services.call_receive(provider="cti", call_id="c-10", caller="+8613800138001")
    url = reverse("console:customer_note_add", args=[customer.pk])
    html = agent_client.post(url, {"text": "客户非常不满意，要投诉"}, follow=True).content.decode()
    customer.refresh_from_db()
    assert customer.complaint_open
    assert 'class="t-complaint alert"' in html
    assert 'id="contact"' in html
    assert "card complaint" in html


def test_an_empty_note_is_refused_with_a_message(agent_client):
    customer = factories.customer()
    response = agent_client.post(reverse("console:customer_note_add", args=[customer.pk]), {"text": "  "}, follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_staff_mark_a_complaint_from_the_customer_page_and_only_a_supervisor_clears_it(client):
    customer = factories.customer()
    page = reverse("console:customer", args=[customer.pk])
    client.force_login(factories.staff())
    html = client.get(page).content.decode()
    assert 'id="complaint-set"' in html
    assert "crm/customers/" not in html  # no export link for an agent
    response = client.post(
        reverse("care:complaint_set", args=[customer.pk]), {"reason": "态度差", "next": page}, follow=True
    )
    assert response.redirect_chain[-1][0] == page
    customer.refresh_from_db()
    assert customer.complaint_open
    assert 'id="complaint-clear"' not in response.content.decode()
    client.force_login(factories.user(role=Role.SUPERVISOR))
    html = client.get(page).content.decode()
    assert 'id="complaint-clear"' in html
    assert reverse("crm:customer_data", args=[customer.pk]) in html


def test_a_text_appears_once_on_the_customers_timeline_with_its_delivery_state():
    factories.technician()
    customer = factories.customer()
    intake_services.call_receive(provider="cti", call_id="t-1", caller="+8613800138001")
    from notifications.models import SmsMessage

    booked = SmsMessage.objects.get(kind="booked")
    body_start = booked.body[:20]
    entries = selectors.customer_timeline(customer=customer)
    assert [entry.kind for entry in entries if body_start in (entry.text or "")] == ["sms"]
