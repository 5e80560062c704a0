"""The phone menu: a caller's key or words pick their equipment and the skill it needs."""

import datetime as dt
import json
import xml.etree.ElementTree as ET

import pytest
from django.core.exceptions import ImproperlyConfigured
from twilio.request_validator import RequestValidator

from server.customers.models import Equipment
from server.intake import menu
from server.intake.models import CallRecord
from server.workorders.models import Status, WorkOrder
from tests import factories

pytestmark = pytest.mark.django_db

TOKEN = "test-twilio-token"
URL = "http://testserver/webhooks/twilio/voice"
SID = "CA" + "7" * 32


def post_twilio(client, **extra):
    params = {
        "CallSid": SID,
        "AccountSid": "AC" + "0" * 32,
        "From": "+8613800138001",
        "To": "+14155550100",
        "CallStatus": "in-progress",
        "Direction": "inbound",
        **extra,
    }
    signature = RequestValidator(TOKEN).compute_signature(URL, params)
    return client.post("/webhooks/twilio/voice", params, HTTP_X_TWILIO_SIGNATURE=signature)


def post_cti(client, body):
    return client.post(
        "/webhooks/cti/call", json.dumps(body), content_type="application/json", HTTP_X_FIXROUTE_TOKEN="cti-secret"
    )


@pytest.fixture
def crew(settings):
    """The washing-machine technician lives next door; the purifier technician further away."""
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.CTI_WEBHOOK_TOKEN = "cti-secret"
    settings.IVR_MENU_JSON = ""
    return {
        "appliance": factories.technician(name="刘洋", lat=31.2291, lon=121.4561, skills=("appliance",)),
        "purifier": factories.technician(name="张伟", lat=31.2400, lon=121.4700, skills=("water_purifier",)),
    }


@pytest.fixture
def two_machines():
    """A known caller with a water purifier and a washing machine at home."""
    customer = factories.customer()
    site = customer.sites.get()
    washer = Equipment.objects.create(
        site=site,
        equipment_type="washing_machine",
        model="Haier XQG100",
        install_date=dt.date(2023, 2, 9),
        required_skill=factories.skill("appliance"),
    )
    return {"customer": customer, "purifier": site.equipment.get(equipment_type="water_purifier"), "washer": washer}


def texts(order):
    return " ".join(order.events.values_list("text", flat=True))


def test_the_first_answer_records_the_call_and_offers_the_menu_in_both_languages(client, crew, two_machines):
    response = post_twilio(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    gather = root.find("Gather")
    assert gather is not None
    assert gather.attrib == {
        "input": "dtmf speech",
        "numDigits": "1",
        "action": "/webhooks/twilio/voice",
        "method": "POST",
        "language": "cmn-CN",
        "timeout": "5",
        "hints": gather.attrib["hints"],
    }
    says = gather.findall("Say")
    assert [say.attrib["language"] for say in says] == ["cmn-CN", "en-US"]
    assert "洗衣机请按1" in says[0].text
    assert "净水器请按2" in says[0].text
    assert "人工客服请按0" in says[0].text
    assert "for water purifier press 2" in says[1].text
    assert "for air conditioner press 3" in says[1].text
    # Nothing chosen: the goodbye after the menu; the call is recorded already, so none is lost.
    order = WorkOrder.objects.get()
    fallback = [say.text for say in root.findall("Say")]
    assert len(fallback) == 2
    assert all(order.reference in text for text in fallback)
    assert CallRecord.objects.get().work_order == order
    assert order.equipment is None  # two machines, no choice yet
    assert order.required_skill is None


def test_pressing_2_gives_the_order_the_water_purifier_and_its_skill(client, crew, two_machines):
    post_twilio(client)
    order = WorkOrder.objects.get()
    assert order.technician == crew["appliance"]  # before the choice anyone could be sent
    response = post_twilio(client, Digits="2")
    assert response.status_code == 200
    assert "您选择了净水器".encode() in response.content
    assert b"You chose water purifier" in response.content
    order.refresh_from_db()
    assert order.equipment == two_machines["purifier"]
    assert order.required_skill.code == "water_purifier"
    assert order.status == Status.SCHEDULED
    assert order.technician == crew["purifier"]  # placed again: the first technician lacks the skill
    assert "IVR choice: 2" in order.problem
    assert "Phone menu: the caller pressed 2 (water purifier)" in texts(order)
    assert CallRecord.objects.get().ivr_digits == "2"
    assert WorkOrder.objects.count() == 1
    # Twilio retries the same request: applied once.
    events = order.events.count()
    assert post_twilio(client, Digits="2").status_code == 200
    assert order.events.count() == events


def test_pressing_1_picks_the_washing_machine_and_keeps_a_technician_who_has_the_skill(client, crew, two_machines):
    post_twilio(client)
    post_twilio(client, Digits="1")
    order = WorkOrder.objects.get()
    assert order.equipment == two_machines["washer"]
    assert order.required_skill.code == "appliance"
    assert order.technician == crew["appliance"]
    assert not order.events.filter(text__startswith="Taken off the plan").exists()


@pytest.mark.parametrize("words", ["净水器坏了", "My water purifier is leaking", "二"])
def test_words_pick_the_same_as_the_key(client, crew, two_machines, words):
    post_twilio(client)
    response = post_twilio(client, SpeechResult=words)
    assert "您选择了净水器".encode() in response.content
    order = WorkOrder.objects.get()
    assert order.equipment == two_machines["purifier"]
    assert order.required_skill.code == "water_purifier"
    assert order.technician == crew["purifier"]
    assert words in order.problem
    assert CallRecord.objects.get().reason == words


def test_a_key_not_on_the_menu_keeps_the_order_without_equipment_and_says_so(client, crew, two_machines):
    post_twilio(client)
    response = post_twilio(client, Digits="9")
    assert response.status_code == 200
    assert b"did not understand" in response.content
    order = WorkOrder.objects.get()
    assert order.equipment is None
    assert order.required_skill is None
    assert order.technician == crew["appliance"]
    assert "Phone menu: the caller pressed 9, which is not on the menu; no equipment chosen" in texts(order)


def test_asking_for_an_agent_changes_nothing_and_is_on_the_order(client, crew, two_machines):
    post_twilio(client)
    response = post_twilio(client, Digits="0")
    assert "客服人员会尽快与您联系".encode() in response.content
    order = WorkOrder.objects.get()
    assert order.equipment is None
    assert "asked for an agent" in texts(order)


def test_a_kind_the_caller_does_not_have_asks_for_its_skill(client, crew, two_machines):
    factories.skill("hvac")
    post_twilio(client)
    post_twilio(client, Digits="3")
    order = WorkOrder.objects.get()
    assert order.equipment is None
    assert order.required_skill.code == "hvac"
    assert "no air conditioner is registered at the site" in texts(order)
    assert order.technician is None  # nobody in the crew services air conditioners
    assert order.status == Status.NEW


def test_a_choice_on_a_call_that_joined_an_open_order_is_only_noted(client, crew, two_machines):
    post_cti(client, {"call_id": "earlier", "caller": "+8613800138001"})
    open_order = WorkOrder.objects.get()
    post_twilio(client)
    post_twilio(client, Digits="2")
    assert WorkOrder.objects.count() == 1
    open_order.refresh_from_db()
    assert open_order.equipment is None
    assert "pressed 2" in texts(open_order)


def test_cti_with_digits_picks_the_equipment_and_its_skill(client, crew, two_machines):
    response = post_cti(client, {"call_id": "cti-7", "caller": "13800138001", "digits": "2", "reason": "漏水"})
    assert response.status_code == 201
    body = response.json()
    assert body["work_order"]["technician"] == "张伟"
    order = WorkOrder.objects.get()
    assert order.equipment == two_machines["purifier"]
    assert order.required_skill.code == "water_purifier"
    assert order.technician == crew["purifier"]
    assert "漏水" in order.problem
    assert order.events.filter(text__startswith="Phone menu: the caller pressed 2").count() == 1
    again = post_cti(client, {"call_id": "cti-7", "caller": "13800138001", "digits": "2"})
    assert again.status_code == 200
    assert order.events.filter(text__startswith="Phone menu").count() == 1


def test_cti_takes_speech_and_a_later_event_with_the_choice(client, crew, two_machines):
    assert post_cti(client, {"call_id": "cti-8", "caller": "13800138001"}).status_code == 201
    assert WorkOrder.objects.get().equipment is None
    response = post_cti(client, {"call_id": "cti-8", "caller": "13800138001", "speech": "洗衣机不转了"})
    assert response.status_code == 200
    order = WorkOrder.objects.get()
    assert order.equipment == two_machines["washer"]
    assert order.required_skill.code == "appliance"
    assert response.json()["work_order"]["technician"] == "刘洋"


def test_cti_refuses_speech_that_is_not_text(client, crew):
    response = post_cti(client, {"call_id": "cti-9", "caller": "13800138001", "speech": 2})
    assert response.status_code == 422
    assert response.json()["extra"]["not_text"] == ["speech"]


def test_a_company_menu_from_a_json_file(client, crew, two_machines, settings, tmp_path):
    path = tmp_path / "menu.json"
    entries = [
        {"digit": "5", "label_zh": "洗碗机", "label_en": "dishwasher", "equipment_type": "dishwasher", "skill": "x"},
        {"digit": "6", "label_zh": "净水机", "label_en": "purifier", "equipment_type": "water_purifier"},
    ]
    path.write_text(json.dumps({"menu": entries}), encoding="utf-8")
    settings.IVR_MENU_JSON = str(path)
    answer = post_twilio(client).content.decode()
    assert "洗碗机请按5" in answer
    assert "for dishwasher press 5" in answer
    assert "洗衣机" not in answer
    post_twilio(client, Digits="6")
    assert WorkOrder.objects.get().equipment == two_machines["purifier"]


def test_an_unusable_menu_file_falls_back_to_the_built_in_menu(settings, tmp_path, caplog):
    path = tmp_path / "menu.json"
    path.write_text('[{"digit": "12", "label_zh": "x", "label_en": "x"}]', encoding="utf-8")
    settings.IVR_MENU_JSON = str(path)
    assert menu.menu_current() == menu.DEFAULT_MENU
    assert "unusable" in caplog.text
    settings.IVR_MENU_JSON = str(tmp_path / "missing.json")
    assert menu.menu_current() == menu.DEFAULT_MENU


@pytest.mark.parametrize(
    ("digits", "speech", "digit"),
    [
        ("2", "", "2"),
        ("2", "空调", "2"),  # the key wins
        ("", "家里的净水器漏水了", "2"),
        ("", "The AIR CONDITIONER is broken.", "3"),
        ("", "热水器不热", "4"),
        ("", "three", "3"),
        ("", "3.", "3"),
        ("", "转人工", "0"),
        ("9", "", None),
        ("", "洗衣机和空调都坏了", None),  # two kinds: nobody can tell which
        ("", "你好", None),
        ("", "", None),
    ],
)
def test_menu_choice(digits, speech, digit):
    choice = menu.menu_choice(digits, speech, menu=menu.DEFAULT_MENU)
    assert (choice.digit if choice else None) == digit


def test_menu_parse_refuses_a_key_used_twice():
    entry = {"digit": "1", "label_zh": "甲", "label_en": "a"}
    with pytest.raises(ImproperlyConfigured, match="twice"):
        menu.menu_parse([entry, entry])


def test_cti_digits_sent_with_the_call_make_the_order_right_the_first_time(client, crew, two_machines):
    """Needs the hook in server.intake.services._call_record_new (menu.menu_pick where the equipment
    is chosen): the order is created with the equipment and placed once, with a skilled technician."""
    post_cti(client, {"call_id": "cti-10", "caller": "13800138001", "digits": "2"})
    order = WorkOrder.objects.get()
    assigned = order.events.filter(kind="assigned")
    assert [event.data["technician_id"] for event in assigned] == [crew["purifier"].pk]
    assert not order.events.filter(text__startswith="Taken off the plan").exists()
    created = order.events.get(kind="created")
    menu_event = order.events.get(text__startswith="Phone menu")
    assert menu_event.pk > created.pk
