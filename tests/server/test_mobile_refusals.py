"""The technician app's refusals in the phone's language, and event ids that are another
technician's: never answered as this technician's repeat."""

import datetime as dt
import re
import uuid

import pytest
from django.utils import timezone, translation

from server.common.exceptions import ValidationFailed
from server.technicians.models import TechnicianLocation
from server.workorders import services
from server.workorders.models import Status, WorkOrder, WorkOrderEvent, WorkOrderPhoto
from tests import factories
from tests.server.test_mobile_api_app import App, assign, order_at, start_photo

pytestmark = pytest.mark.django_db

LANGUAGES = ["zh-CN", "en"]


@pytest.fixture
def crew():
    zhang = factories.technician(name="张伟", username="zhang", lat=31.2300, lon=121.4700)
    li = factories.technician(name="李强", username="li", lat=31.3000, lon=121.6000)
    soon = timezone.now() + dt.timedelta(minutes=40)
    order = assign(order_at(), zhang, soon)
    later = assign(order_at(phone="+8613800139002"), zhang, soon + dt.timedelta(hours=1), position=2)
    theirs = assign(order_at(phone="+8613800139003"), li, soon)
    return {"zhang": zhang, "li": li, "order": order, "later": later, "theirs": theirs}


def hms(moment):
    return f"{timezone.localtime(moment):%H:%M:%S}"


def assert_said(response, status, language, english, chinese, *, codes=()):
    """The refusal's status, and its message in the language asked for (``codes``: words
    the message may quote as sent)."""
    assert response.status_code == status, response.content
    message = response.json()["message"]
    if language == "en":
        assert message == english
    else:
        assert message == chinese
        # Nothing English left but codes, ids and units.
        words = re.sub(r"image/[a-z]+|MB|WO-\d+", "", message)
        for code in codes:
            words = words.replace(code, "")
        assert not re.search(r"[A-Za-z]{2,}", words), message


# --- Taps -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_clock_that_went_backwards(client, crew, language):
    app = App(client, "zhang", language)
    now = timezone.now()
    assert app.tap(crew["order"].pk, "on_my_way", device_time=now).status_code == 200
    earlier = now - dt.timedelta(minutes=10)
    assert_said(
        app.tap(crew["order"].pk, "arrived", device_time=earlier),
        422,
        language,
        f"This tap ({hms(earlier)}) is older than the order's previous tap ({hms(now)}); "
        "the phone's clock went backwards",
        f"这次操作（{hms(earlier)}）早于该工单的上一次操作（{hms(now)}）；手机时钟被往回调了",
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_clock_ahead_of_the_server(client, crew, language):
    app = App(client, "zhang", language)
    response = app.tap(crew["order"].pk, "on_my_way", device_time=timezone.now() + dt.timedelta(minutes=30, seconds=30))
    assert_said(
        response,
        422,
        language,
        "The phone's clock is 30 minutes ahead of the server; set the phone to the network time and tap again",
        "手机时钟比服务器快 30 分钟；请把手机设为使用网络时间，然后再点一次",
    )
    assert WorkOrder.objects.get(pk=crew["order"].pk).status == Status.SCHEDULED


@pytest.mark.parametrize("language", LANGUAGES)
def test_could_not_complete_without_a_reason(client, crew, language):
    app = App(client, "zhang", language)
    assert app.tap(crew["order"].pk, "arrived").status_code == 200
    assert_said(
        app.tap(crew["order"].pk, "could_not_complete"),
        422,
        language,
        "Say why the job could not be completed",
        "请说明无法完成的原因",
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_event_id_reused_for_another_tap(client, crew, language):
    app = App(client, "zhang", language)
    assert app.tap(crew["order"].pk, "on_my_way", event_id="e-1").status_code == 200
    assert_said(
        app.tap(crew["order"].pk, "arrived", event_id="e-1"),
        422,
        language,
        "Event id e-1 was already used for another tap",
        "事件编号 e-1 已用于另一次操作",
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_unknown_action(client, crew, language):
    assert_said(
        App(client, "zhang", language).tap(crew["order"].pk, "teleport"),
        422,
        language,
        "Unknown action 'teleport'",
        "未知操作“teleport”",
        codes=["teleport"],
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_resolution_with_another_action_than_done(client, crew, language):
    app = App(client, "zhang", language)
    assert_said(
        app.tap(crew["order"].pk, "on_my_way", resolution="换了滤芯"),
        422,
        language,
        "A resolution and parts go with 'done', not with 'on_my_way'",
        "处理结果和用料只能随“完成”提交，不能随“on_my_way”提交",
        codes=["on_my_way"],
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_transition_the_state_machine_refuses_names_the_statuses(client, crew, language):
    app = App(client, "zhang", language)
    assert app.tap(crew["order"].pk, "on_my_way").status_code == 200
    response = app.tap(crew["order"].pk, "on_my_way")
    assert_said(
        response,
        409,
        language,
        "A work order that is 'On the way' cannot become 'On the way'",
        "处于“在途中”状态的工单不能变为“在途中”",
    )
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["extra"] == {
        "from": "en_route",
        "to": "en_route",
        "allowed": ["on_hold", "on_site", "scheduled"],
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_second_job_in_progress(client, crew, language):
    app = App(client, "zhang", language)
    assert app.tap(crew["order"].pk, "arrived").status_code == 200
    response = app.tap(crew["later"].pk, "on_my_way")
    reference = crew["order"].reference
    assert_said(
        response,
        409,
        language,
        f"张伟 is already 'On site' for {reference}; finish it or report it could not be completed first",
        f"张伟 的工单 {reference} 正处于“已上门”状态；请先完成它，或报告无法完成",
    )
    assert response.json()["code"] == "job_in_progress"
    assert WorkOrder.objects.get(pk=crew["later"].pk).status == Status.SCHEDULED


@pytest.mark.parametrize("language", LANGUAGES)
def test_another_technicians_order_answers_like_a_missing_one(client, crew, language):
    app = App(client, "zhang", language)
    theirs = crew["theirs"].pk
    response = app.tap(theirs, "on_my_way")
    assert_said(response, 404, language, f"Work order {theirs} does not exist", f"工单 {theirs} 不存在")
    assert response.json()["extra"] == {"work_order_id": theirs}
    # Even with a clock far ahead: nothing about their order is said before "not found".
    late = app.tap(theirs, "on_my_way", device_time=timezone.now() + dt.timedelta(days=1))
    assert late.status_code == 404
    assert WorkOrder.objects.get(pk=theirs).status == Status.SCHEDULED


# --- Another technician's event id ------------------------------------------------------------------


def _zhang_on_the_way(client, crew):
    assert App(client, "zhang").tap(crew["order"].pk, "on_my_way", event_id="zhang-1").status_code == 200
    return WorkOrderEvent.objects.get(client_event_id="zhang-1")


def _untouched(crew, event):
    assert list(WorkOrderEvent.objects.filter(client_event_id="zhang-1")) == [event]
    event.refresh_from_db()
    assert event.actor_id == crew["zhang"].user_id
    assert event.work_order_id == crew["order"].pk
    assert WorkOrder.objects.get(pk=crew["order"].pk).status == Status.EN_ROUTE
    assert WorkOrder.objects.get(pk=crew["theirs"].pk).status == Status.SCHEDULED
    assert not WorkOrderEvent.objects.filter(actor_id=crew["li"].user_id).exists()


@pytest.mark.parametrize("order", ["order", "theirs"])
def test_a_resent_event_id_of_another_technician_is_not_a_duplicate(client, crew, order):
    """李强 sending 张伟's event id, on 张伟's order or on his own: 404, nothing applied."""
    event = _zhang_on_the_way(client, crew)
    li = App(client, "li", "en")
    pk = crew[order].pk
    response = li.tap(pk, "on_my_way", event_id="zhang-1")
    assert response.status_code == 404
    assert response.json()["message"] == f"Work order {pk} does not exist"
    _untouched(crew, event)


@pytest.mark.parametrize("order", ["order", "theirs"])
def test_a_batch_with_another_technicians_event_id_answers_404_for_it(client, crew, order):
    event = _zhang_on_the_way(client, crew)
    li = App(client, "li", "zh-CN")
    pk = crew[order].pk
    body = {
        "type": "tap",
        "client_event_id": "zhang-1",
        "work_order_id": pk,
        "action": "on_my_way",
        "device_time": timezone.now().isoformat(),
    }
    response = li.post("events/batch", {"events": [body]})
    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert (result["status"], result["duplicate"], result["code"]) == (404, False, "not_found")
    assert result["message"] == f"工单 {pk} 不存在"
    assert response.json()["jobs"] == []
    _untouched(crew, event)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("path", ["location", "events/batch"])
def test_another_technicians_location_id_is_refused_not_a_duplicate(client, crew, language, path):
    assert App(client, "zhang").location(31.231, 121.471, event_id="where-1").json()["duplicate"] is False
    li = App(client, "li", language)
    if path == "location":
        response = li.location(31.301, 121.601, event_id="where-1")
        said = response
    else:
        body = {
            "type": "location",
            "client_event_id": "where-1",
            "device_time": timezone.now().isoformat(),
            "latitude": 31.301,
            "longitude": 121.601,
        }
        response = li.post("events/batch", {"events": [body]})
        assert response.status_code == 200
        [result] = response.json()["results"]
        assert result["duplicate"] is False
        said = FakeResponse(result["status"], {"message": result["message"]})
    assert_said(
        said,
        422,
        language,
        "Event id where-1 was already used for another report",
        "事件编号 where-1 已用于另一次位置上报",
        codes=["where-1"],
    )
    assert list(TechnicianLocation.objects.values_list("technician_id", flat=True)) == [crew["zhang"].pk]


class FakeResponse:
    """A batch result read like a response, for :func:`assert_said`."""

    def __init__(self, status_code, body):
        self.status_code, self.body, self.content = status_code, body, body

    def json(self):
        return self.body


# --- Photos -----------------------------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


DATA = bytes(range(256)) * 400


def start(app, order_id, *, photo_id="p-1", data=DATA, **change):
    return start_photo(app, order_id, data, photo_id=photo_id, **change)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_photo_of_a_wrong_type(client, crew, media, language):
    assert_said(
        start(App(client, "zhang", language), crew["order"].pk, content_type="image/gif"),
        422,
        language,
        "Photos must be one of image/heic, image/jpeg, image/png, image/webp",
        "照片格式须为以下之一：image/heic, image/jpeg, image/png, image/webp",
    )


@pytest.mark.parametrize(
    ("language", "expected"), [("zh-hans", "照片大小须为 1 字节至 15 MB"), ("en", "A photo must be 1 byte to 15 MB")]
)
def test_a_photo_too_big(crew, language, expected):
    """The request schema already refuses it over HTTP; the service says it the same way."""
    with translation.override(language), pytest.raises(ValidationFailed) as refused:
        services.work_order_photo_start(
            technician=crew["zhang"],
            client_photo_id="big",
            work_order_id=crew["order"].pk,
            filename="big.jpg",
            content_type="image/jpeg",
            size=services.PHOTO_MAX_BYTES + 1,
            sha256="0" * 64,
        )
    assert refused.value.message == expected


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_photo_id_with_other_details(client, crew, media, language):
    app = App(client, "zhang", language)
    assert start(app, crew["order"].pk).status_code == 200
    assert_said(
        start(app, crew["order"].pk, filename="另一张.jpg"),
        409,
        language,
        "Photo id p-1 was already used for another photo",
        "照片编号 p-1 已用于另一张照片",
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_chunk_at_the_wrong_offset(client, crew, media, language):
    app = App(client, "zhang", language)
    assert start(app, crew["order"].pk).status_code == 200
    assert app.put_chunk("p-1", 0, DATA[:1000]).status_code == 200
    response = app.put_chunk("p-1", 5000, DATA[5000:6000])
    assert_said(
        response,
        409,
        language,
        "Expected the bytes from 1000, got them from 5000",
        "应从第 1000 字节续传，收到的却从第 5000 字节开始",
    )
    assert response.json()["extra"] == {"client_photo_id": "p-1", "received": 1000}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_photo_whose_checksum_does_not_match(client, crew, media, language):
    app = App(client, "zhang", language)
    assert start(app, crew["order"].pk, sha256="ab" * 32).status_code == 200
    response = app.put_chunk("p-1", 0, DATA)
    assert_said(
        response,
        422,
        language,
        "The photo's checksum does not match its bytes; send it again from the start",
        "照片校验和与内容不符；请从头重新发送",
    )
    assert response.json()["code"] == "photo_checksum"
    assert WorkOrderPhoto.objects.get(client_photo_id="p-1").received == 0


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_photo_of_another_technicians_order(client, crew, media, language):
    theirs = crew["theirs"].pk
    assert_said(
        start(App(client, "zhang", language), theirs, photo_id=uuid.uuid4().hex),
        404,
        language,
        f"Work order {theirs} does not exist",
        f"工单 {theirs} 不存在",
    )
