"""The staff console in real headless Chromium: screen-pop from the CTI webhook, logging a repair
for a new customer, masked numbers, technicians kept out, both languages. Screenshots of the
main pages in both languages are saved under test-artifacts/screenshots/."""

from __future__ import annotations

import json
import urllib.request

import pytest

from server.accounts.models import Role
from server.intake import services as intake_services
from server.workorders.models import Status, WorkOrder
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

CTI_TOKEN = "cti-browser-secret"
LANGUAGES = {"zh-CN": "zh", "en-US": "en"}


def cti_call(live_server, *, call_id: str, caller: str, reason: str = "") -> dict:
    """What the phone system does: POST the call to the CTI webhook."""
    request = urllib.request.Request(
        live_server.url + "/webhooks/cti/call",
        data=json.dumps({"call_id": call_id, "caller": caller, "reason": reason}).encode(),
        headers={"Content-Type": "application/json", "X-Fixroute-Token": CTI_TOKEN},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our own live server)
        return json.loads(response.read())


@pytest.fixture
def desk(settings):
    settings.CTI_WEBHOOK_TOKEN = CTI_TOKEN
    settings.GEOCODER = "none"
    technician = factories.technician(name="张伟")
    customer = factories.customer(name="赵敏", phone="+8613800138001")
    return {"technician": technician, "customer": customer, "agent": factories.staff(username="agent1")}


@pytest.mark.parametrize("locale", list(LANGUAGES))
def test_a_cti_call_pops_the_callers_customer_on_the_agents_page(live_server, desk, new_page, login, shot, locale):
    lang = LANGUAGES[locale]
    page = login(new_page(locale=locale), desk["agent"])
    assert page.url == live_server.url + "/"
    shot(page, f"console-home-{lang}")
    other_agent = login(new_page(locale=locale), factories.staff())
    answer = cti_call(live_server, call_id=f"call-{lang}", caller="138 0013 8001", reason="净水器漏水")
    for agent_page in (page, other_agent):  # every agent's console pops
        card = agent_page.locator(f'#pop .customer-card[data-customer-id="{desk["customer"].pk}"]')
        card.wait_for(state="visible", timeout=5_000)
        assert "赵敏" in card.inner_text()
        assert "+86 138****8001" in card.inner_text()  # an agent sees the number masked here
        assert answer["work_order"]["reference"] in agent_page.locator("#pop .order-line").inner_text()
    assert "张伟" in page.locator("#pop .order-line").inner_text()
    shot(page, f"screen-pop-{lang}")
    # An unidentified caller: "withheld number" and the callback task.
    cti_call(live_server, call_id=f"anon-{lang}", caller="anonymous")
    page.locator("#pop .withheld").wait_for(state="visible", timeout=5_000)
    assert "call the customer back" in page.locator("#pop .callback").inner_text()
    # The customer's 360 page: the call on the timeline, the whole number.
    page.goto(f"{live_server.url}/customers/{desk['customer'].pk}/")
    assert page.locator(".phone-full").inner_text() == "+8613800138001"
    assert "净水器漏水" in page.locator("#timeline").inner_text()
    shot(page, f"customer-360-{lang}")


def test_an_agent_logs_a_repair_for_a_new_customer_with_a_typed_address(live_server, desk, new_page, login, shot):
    page = login(new_page(locale="zh-CN"), desk["agent"])
    page.goto(live_server.url + "/repair/")
    page.fill("#id_phone", "139 1234 5678")
    page.fill("#id_customer_name", "钱多多")
    page.fill("#id_address", "某小区3号楼")  # GEOCODER none: no coordinates
    page.fill("#id_problem", "洗衣机不脱水")
    page.click("button[type=submit].big")
    answer = page.locator("#repair-answer")
    answer.wait_for()
    assert page.locator("#needs-review").is_visible()
    order = WorkOrder.objects.get(customer__phone="+8613912345678")
    assert (order.needs_review, order.status, order.technician) == (True, Status.NEW, None)
    assert order.reference in answer.inner_text()
    shot(page, "repair-flagged-zh")

    # The same with coordinates typed (the pin when geocoding fails): dispatched, with the why.
    page.goto(live_server.url + "/repair/")
    page.fill("#id_phone", "13712345678")
    page.fill("#id_customer_name", "孙丽")
    page.fill("#id_address", "上海市静安区某路1号")
    page.fill("#id_latitude", "31.2291")
    page.fill("#id_longitude", "121.4561")
    page.fill("#id_equipment_type", "净水器")
    page.select_option("#id_equipment_skill", "water_purifier")
    page.fill("#id_problem", "净水器不出水")
    page.click("button[type=submit].big")
    answer.wait_for()
    order = WorkOrder.objects.get(customer__phone="+8613712345678")
    assert order.status == Status.SCHEDULED
    assert order.technician == desk["technician"]
    assert order.equipment is not None
    assert order.required_skill is not None
    assert order.required_skill.code == "water_purifier"  # suggested from the new equipment
    text = answer.inner_text()
    assert "张伟" in text
    assert "{" not in text  # the why in words, not JSON
    assert page.locator(".why li").count() >= 1
    assert not page.locator("#needs-review").count()
    shot(page, "repair-answer-zh")


def test_the_repair_form_finds_an_existing_customer_as_you_type(live_server, desk, new_page, login, shot):
    page = login(new_page(locale="en-US"), desk["agent"])
    page.goto(live_server.url + "/repair/")
    page.fill("#id_q", "138-0013-8001")
    result = page.locator("#results .results button").first
    result.wait_for()
    assert "+86 138****8001" in result.inner_text()
    result.click()
    page.locator('#chosen input[name="customer_id"]').wait_for(state="attached")
    page.fill("#id_problem", "No water")
    shot(page, "repair-form-en")
    page.click("button[type=submit].big")
    page.locator("#repair-answer").wait_for()
    order = WorkOrder.objects.get()
    assert order.customer == desk["customer"]
    assert order.equipment is None
    assert order.status == Status.SCHEDULED
    shot(page, "repair-answer-en")
    page.click(f'a[href="/work-orders/{order.pk}/"]')
    assert page.locator("h1").inner_text().startswith(order.reference)
    page.fill('form[action$="/hold/"] input[name="reason"]', "Waiting for parts")
    page.click('form[action$="/hold/"] button')
    assert page.locator(".msg.success").is_visible()
    assert "Waiting for parts" in page.locator(".timeline").inner_text()
    shot(page, "work-order-detail-en")


@pytest.mark.parametrize("locale", list(LANGUAGES))
def test_an_agent_sees_masked_numbers_in_the_work_order_list(live_server, desk, new_page, login, shot, locale):
    intake_services.call_receive(provider="cti", call_id="list-1", caller="+8613800138001", reason="漏水")
    page = login(new_page(locale=locale), desk["agent"])
    page.goto(live_server.url + "/work-orders/")
    cell = page.locator("table.orders td.phone").first
    assert cell.inner_text() == "+86 138****8001"
    assert "+8613800138001" not in page.content()
    page.fill("#id_q", "13800138001")
    page.click("form.filters button[type=submit]")
    assert page.locator("table.orders tbody tr").count() == 1
    shot(page, f"work-orders-{LANGUAGES[locale]}")


def test_a_supervisor_sees_whole_numbers_in_the_list(live_server, desk, new_page, login):
    intake_services.call_receive(provider="cti", call_id="list-2", caller="+8613800138001")
    page = login(new_page(), factories.user(role=Role.SUPERVISOR))
    page.goto(live_server.url + "/work-orders/")
    assert page.locator("table.orders td.phone").first.inner_text() == "+8613800138001"


def test_a_technician_account_cannot_open_the_console(live_server, desk, new_page, login, shot):
    page = login(new_page(locale="en-US"), desk["technician"].user)
    assert page.locator("#forbidden").is_visible()
    assert "Technicians use the phone app" in page.locator("#forbidden").inner_text()
    response = page.goto(live_server.url + "/work-orders/")
    assert response.status == 403
    assert page.locator("nav.nav").count() == 0
    shot(page, "technician-forbidden-en")


def test_the_console_switches_between_chinese_and_english_and_remembers(live_server, desk, new_page, login):
    page = login(new_page(locale="zh-CN"), desk["agent"])
    assert page.locator("nav.nav a").all_inner_texts()[:3] == ["来电", "登记报修", "工单"]
    page.click('button[data-lang="en"]')
    page.wait_for_load_state()
    assert page.locator("nav.nav a").all_inner_texts()[:3] == ["Calls", "Log a repair", "Work orders"]
    page.goto(live_server.url + "/work-orders/")  # the choice is remembered
    assert page.locator("h1").inner_text() == "Work orders"
    page.click('button[data-lang="zh-hans"]')
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "工单"


def test_a_locked_out_user_is_told_so(live_server, settings, new_page):
    settings.AXES_FAILURE_LIMIT = 2
    factories.staff(username="forgetful")
    page = new_page(locale="en-US")
    for _ in range(3):
        page.goto(live_server.url + "/login/")
        page.fill("#id_username", "forgetful")
        page.fill("#id_password", "wrong")
        page.click("button[type=submit].primary")
        page.wait_for_load_state()
    assert page.locator("#locked-out").is_visible()


def test_a_complaint_note_turns_the_order_red_moves_it_up_and_into_the_supervisors_queue(
    live_server, desk, new_page, login, shot
):
    customer = desk["customer"]
    angry = intake_services.call_receive(provider="cti", call_id="first", caller="+8613800138001", reason="漏水")
    order = angry.work_order
    other = factories.customer(name="钱多多", phone="+8613912345678")
    newer = intake_services.call_receive(provider="cti", call_id="second", caller=other.phone, reason="不出水")
    page = login(new_page(), desk["agent"])
    page.goto(live_server.url + "/work-orders/")
    first_row = page.locator("table.orders tbody tr").first
    assert newer.work_order.reference in first_row.inner_text()  # newest first while nobody complains

    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    page.fill(".note-form textarea", "师傅迟到两个小时，服务太差劲了，我要投诉！")
    page.click(".note-form button[type=submit]")
    page.locator("#timeline").wait_for(state="visible")
    assert "太差劲了" in page.locator("#timeline").inner_text()

    order.refresh_from_db()
    assert order.complaint is True
    assert order.priority == "high"  # one step up from normal: the optimizer serves it sooner
    page.goto(live_server.url + "/work-orders/")
    first_row = page.locator("table.orders tbody tr").first
    assert order.reference in first_row.inner_text()  # moved to the top of the list
    assert "complaint" in (first_row.get_attribute("class") or "")  # and red
    shot(page, "work-orders-complaint-zh")

    supervisor = login(new_page(), factories.user(role=Role.SUPERVISOR))
    supervisor.goto(live_server.url + "/care/queue/")
    task = supervisor.locator("table.callbacks tr.callback.complaint")
    assert task.count() == 1
    assert "赵敏" in task.inner_text()
    shot(supervisor, "supervisor-queue-zh")
