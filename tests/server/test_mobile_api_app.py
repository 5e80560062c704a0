"""The technician app's server side (issue 12): a job list that answers 304 while nothing changed,
jobs with what a technician needs in their language, finishing with a resolution and parts, taps
that sync late, queued location reports, and photos uploaded in resumable chunks."""

import datetime as dt
import hashlib
import uuid

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from notifications.models import SmsMessage
from server.customers.models import Customer, Site
from server.technicians.models import TechnicianLocation
from server.workorders import services
from server.workorders.models import EventKind, Status, WorkOrder, WorkOrderEvent, WorkOrderPhoto
from tests import factories

pytestmark = pytest.mark.django_db

SITE = (31.2400, 121.4800)


def login(client, username, password="pw-123456"):
    response = client.post(
        "/api/auth/token", {"username": username, "password": password}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def order_at(where=SITE, *, phone="+8613800139001", problem="净水器漏水"):
    customer = Customer.objects.create(name=f"客户{phone[-3:]}", phone=phone, language="zh-CN")
    site = Site.objects.create(
        customer=customer, address=f"上海市测试路{phone[-3:]}号", latitude=where[0], longitude=where[1]
    )
    return services.work_order_create(customer=customer, site=site, problem=problem, required_skill=factories.skill())


def assign(order, technician, arrival, position=1):
    return services.work_order_assign(
        work_order_id=order.pk,
        technician=technician,
        day=timezone.localtime(arrival).date(),
        planned_arrival=arrival,
        route_position=position,
    )


@pytest.fixture
def crew():
    zhang = factories.technician(name="张伟", username="zhang", lat=31.2300, lon=121.4700)
    li = factories.technician(name="李强", username="li", lat=31.3000, lon=121.6000)
    order = assign(order_at(), zhang, timezone.now() + dt.timedelta(minutes=40))
    return {"zhang": zhang, "li": li, "order": order}


class App:
    """The phone: a token and the language it asks in."""

    def __init__(self, client, username, language="zh-CN"):
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {login(client, username)}", "HTTP_ACCEPT_LANGUAGE": language}

    def jobs(self, **headers):
        return self.client.get("/api/mobile/jobs", **self.headers, **headers)

    def post(self, path, body):
        return self.client.post(f"/api/mobile/{path}", body, content_type="application/json", **self.headers)

    def tap(self, order_id, action, *, device_time=None, event_id=None, **extra):
        body = {
            "client_event_id": event_id or uuid.uuid4().hex,
            "work_order_id": order_id,
            "action": action,
            "device_time": (device_time or timezone.now()).isoformat(),
            **extra,
        }
        return self.post("events", body)

    def location(self, lat, lon, *, device_time=None, event_id=None):
        body = {
            "client_event_id": event_id or uuid.uuid4().hex,
            "device_time": (device_time or timezone.now()).isoformat(),
            "latitude": lat,
            "longitude": lon,
            "accuracy_m": 12.5,
        }
        return self.post("location", body)

    def put_chunk(self, photo_id, offset, data):
        return self.client.put(
            f"/api/mobile/photos/{photo_id}/content?offset={offset}",
            data,
            content_type="application/octet-stream",
            **self.headers,
        )


# --- The job list: ETag and 304 -------------------------------------------------------------------


def test_the_job_list_answers_304_until_something_the_technician_sees_changes(client, crew):
    app = App(client, "zhang")
    first = app.jobs()
    assert first.status_code == 200
    etag = first["ETag"]
    assert etag.startswith('"')
    assert not etag.startswith("W/")
    assert etag == f'"{hashlib.sha256(first.content).hexdigest()[:32]}"'
    unchanged = app.jobs(HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged["ETag"] == etag
    assert app.jobs(HTTP_IF_NONE_MATCH='"something-else"').status_code == 200

    last = [etag]

    def changed():
        response = app.jobs(HTTP_IF_NONE_MATCH=last[0])
        assert response.status_code == 200, "the list must change"
        assert response["ETag"] != last[0]
        last[0] = response["ETag"]
        assert app.jobs(HTTP_IF_NONE_MATCH=last[0]).status_code == 304
        return response.json()

    # A new job.
    second = assign(order_at(phone="+8613800139002"), crew["zhang"], timezone.now() + dt.timedelta(hours=3), 2)
    assert [job["id"] for job in changed()["jobs"]] == [crew["order"].pk, second.pk]
    # Re-timed.
    assign(second, crew["zhang"], timezone.now() + dt.timedelta(hours=4), 2)
    changed()
    # A note on its history.
    services.work_order_note(work_order=second, text="客户说下午在家", actor_label="staff")
    changed()
    # Withdrawn: given to another technician.
    assign(second, crew["li"], timezone.now() + dt.timedelta(hours=4), 1)
    assert [job["id"] for job in changed()["jobs"]] == [crew["order"].pk]
    # Its status, by the technician's own tap.
    assert app.tap(crew["order"].pk, "on_my_way").status_code == 200
    assert changed()["jobs"][0]["status"] == "en_route"


def test_the_new_answers_are_in_the_openapi_document():
    from server.config.api import api

    paths = api.get_openapi_schema()["paths"]
    assert {200, 304, 401} <= set(paths["/api/mobile/jobs"]["get"]["responses"])
    photo = paths["/api/mobile/photos/{client_photo_id}/content"]["put"]
    assert "application/octet-stream" in photo["requestBody"]["content"]
    assert {200, 401, 404, 409, 413, 422} <= set(photo["responses"])
    assert {200, 401, 403, 422} <= set(paths["/api/mobile/location"]["post"]["responses"])
    assert {200, 404, 409, 422} <= set(paths["/api/mobile/photos"]["post"]["responses"])


# --- What a job carries --------------------------------------------------------------------------


def test_a_job_carries_access_notes_complaint_site_visits_and_words_in_the_phones_language(client, crew):
    order = crew["order"]
    site = order.site
    site.access_notes = "从后门进，门禁 1234"
    site.save()
    earlier = services.work_order_create(customer=order.customer, site=site, problem="滤芯堵塞" * 100)
    assign(earlier, crew["li"], timezone.now() - dt.timedelta(days=3))
    for status in (Status.EN_ROUTE, Status.ON_SITE, Status.COMPLETED):
        services.work_order_transition(work_order_id=earlier.pk, to_status=status)
    WorkOrder.objects.filter(pk=earlier.pk).update(resolution="换了滤芯")
    order.customer.complaint_open = True
    order.customer.save()

    zh = App(client, "zhang", "zh-CN").jobs().json()["jobs"][0]
    en = App(client, "zhang", "en").jobs().json()["jobs"][0]
    assert zh["access_notes"] == "从后门进，门禁 1234"
    assert zh["complaint"] is True
    assert (zh["status_label"], en["status_label"]) == ("已排程", "Scheduled")
    assert (zh["eta_start"], zh["eta_end"]) == (None, None)  # not on the way yet
    assert (zh["resolution"], zh["parts"], zh["photos"]) == ("", [], [])
    (visit,) = zh["site_visits"]
    assert visit["reference"] == earlier.reference
    assert visit["resolution"] == "换了滤芯"
    assert visit["technician_name"] == "李强"
    assert len(visit["problem"]) == 300
    assert earlier.problem.startswith(visit["problem"])
    assert visit["finished_at"] is not None
    assert (visit["status_label"], en["site_visits"][0]["status_label"]) == ("已完成", "Completed")
    # The earlier order is a site visit, not a history line as well.
    assert not any(earlier.reference in entry["text"] for entry in zh["history"])
    # History in the phone's language: the same created event in two languages.
    zh_created = next(entry["text"] for entry in zh["history"] if entry["kind"] == "created")
    en_created = next(entry["text"] for entry in en["history"] if entry["kind"] == "created")
    assert en_created == "Work order created (Entered by staff)"
    assert zh_created != en_created


def test_the_history_never_shows_the_dispatchers_reasoning(client):
    factories.technician(name="张伟", username="zhang", lat=31.2300, lon=121.4600)
    factories.technician(name="李强", username="li", lat=31.3000, lon=121.6000)
    customer = factories.customer()
    from server.intake.services import work_order_create_and_dispatch

    order = work_order_create_and_dispatch(
        customer=customer, site=customer.sites.get(), problem="漏水", required_skill=factories.skill()
    )
    assert order.events.filter(kind=EventKind.NOTE, data__has_key="explanation").exists()
    for language in ("zh-CN", "en"):
        job = App(client, order.technician.user.username, language).jobs().json()["jobs"][0]
        texts = " ".join(entry["text"] for entry in job["history"])
        assert "李强" not in texts
        assert "Why" not in texts
        assert "原因" not in texts
        assert job["history"], "the created event is there"


def test_the_eta_window_while_on_the_way_is_the_one_the_customer_was_told(client, crew):
    app = App(client, "zhang")
    answer = app.tap(crew["order"].pk, "on_my_way", latitude=31.2600, longitude=121.4900)
    assert answer.status_code == 200
    told = WorkOrderEvent.objects.get(work_order=crew["order"], kind=EventKind.SMS, data__sms_kind="on_my_way").data
    job = app.jobs().json()["jobs"][0]
    assert job["eta_start"] is not None
    shown = (dt.datetime.fromisoformat(job["eta_start"]), dt.datetime.fromisoformat(job["eta_end"]))
    assert shown == (dt.datetime.fromisoformat(told["window_start"]), dt.datetime.fromisoformat(told["window_end"]))


# --- Finishing a job ------------------------------------------------------------------------------


def test_done_stores_the_resolution_and_parts_at_the_phones_time(client, crew):
    app = App(client, "zhang")
    order = crew["order"]
    assert app.tap(order.pk, "on_my_way").status_code == 200
    assert app.tap(order.pk, "arrived").status_code == 200
    finished = (timezone.now() + dt.timedelta(seconds=2)).replace(microsecond=0)
    parts = [{"name": "RO 滤芯", "quantity": 2}, {"name": "快接头", "quantity": 1}]
    answer = app.tap(order.pk, "done", device_time=finished, resolution="更换滤芯，试机正常", parts=parts)
    assert answer.status_code == 200, answer.content
    assert answer.json()["job"]["resolution"] == "更换滤芯，试机正常"
    assert answer.json()["job"]["parts"] == parts
    order.refresh_from_db()
    assert (order.status, order.resolution, order.parts_used) == (Status.COMPLETED, "更换滤芯，试机正常", parts)
    assert order.completed_at == finished
    event = order.events.get(to_status=Status.COMPLETED)
    assert event.data["resolution"] == "更换滤芯，试机正常"
    assert event.data["parts"] == parts
    assert event.device_time == finished


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"resolution": "修好了"}, 422),
        ({"parts": [{"name": "滤芯", "quantity": 1}]}, 422),
    ],
)
def test_a_resolution_or_parts_with_another_action_is_refused(client, crew, extra, status):
    app = App(client, "zhang", language="en")
    answer = app.tap(crew["order"].pk, "on_my_way", **extra)
    assert answer.status_code == status
    assert "'done'" in answer.json()["message"]
    assert WorkOrder.objects.get(pk=crew["order"].pk).status == Status.SCHEDULED
    assert not SmsMessage.objects.filter(kind="on_my_way").exists()


@pytest.mark.parametrize(
    "parts",
    [
        [{"name": "滤芯", "quantity": 0}],
        [{"name": "滤芯", "quantity": 1000}],
        [{"name": "", "quantity": 1}],
        [{"name": "x" * 121, "quantity": 1}],
        [{"name": "滤芯", "quantity": 1}] * 51,
    ],
)
def test_bad_parts_are_422(client, crew, parts):
    app = App(client, "zhang")
    app.tap(crew["order"].pk, "on_my_way")
    app.tap(crew["order"].pk, "arrived")
    answer = app.tap(crew["order"].pk, "done", parts=parts)
    assert answer.status_code == 422
    assert WorkOrder.objects.get(pk=crew["order"].pk).status == Status.ON_SITE


# --- Taps that sync late --------------------------------------------------------------------------


def test_an_on_my_way_that_syncs_late_sends_no_eta_and_says_why(client, crew):
    app = App(client, "zhang")
    tapped = timezone.now() - dt.timedelta(minutes=services.STALE_TAP_MINUTES + 20)
    answer = app.tap(crew["order"].pk, "on_my_way", device_time=tapped)
    assert answer.status_code == 200, answer.content
    assert answer.json()["job"]["status"] == "en_route"
    assert not SmsMessage.objects.filter(kind__in=["on_my_way", "running_late"]).exists()
    note = WorkOrderEvent.objects.get(work_order=crew["order"], kind=EventKind.NOTE, data__outcome="stale_tap")
    assert note.data["late_minutes"] == services.STALE_TAP_MINUTES + 20
    assert f"{services.STALE_TAP_MINUTES + 20} minutes late" in note.text
    status = WorkOrderEvent.objects.get(work_order=crew["order"], to_status=Status.EN_ROUTE)
    assert status.device_time == tapped
    # "Arrived" that late is old news (the customer let the technician in): no text, a note. The
    # completed text asks for a rating, which is still worth asking.
    assert app.tap(crew["order"].pk, "arrived", device_time=tapped + dt.timedelta(minutes=5)).status_code == 200
    assert app.tap(crew["order"].pk, "done", device_time=tapped + dt.timedelta(minutes=15)).status_code == 200
    assert list(SmsMessage.objects.order_by("id").values_list("kind", flat=True)) == ["booked", "completed"]
    arrived = WorkOrderEvent.objects.get(work_order=crew["order"], data__outcome="stale_tap", data__sms_kind="arrived")
    assert arrived.data["late_minutes"] == services.STALE_TAP_MINUTES + 15


def test_a_fresh_on_my_way_tells_the_eta(client, crew):
    app = App(client, "zhang")
    tapped = timezone.now() - dt.timedelta(minutes=services.STALE_TAP_MINUTES - 2)
    assert app.tap(crew["order"].pk, "on_my_way", device_time=tapped).status_code == 200
    assert SmsMessage.objects.filter(kind="on_my_way").count() == 1
    assert not WorkOrderEvent.objects.filter(work_order=crew["order"], data__outcome="stale_tap").exists()


def test_a_late_done_sends_no_running_late_to_the_next_customer(client, crew):
    """The day's taps replayed in the evening: the next job's ETA is not judged from them."""
    app = App(client, "zhang")
    start = timezone.now() - dt.timedelta(hours=3)
    nxt = assign(order_at(phone="+8613800139003"), crew["zhang"], start + dt.timedelta(hours=1), 2)
    assert nxt.promised_end < timezone.now()
    for minutes, action in ((0, "on_my_way"), (20, "arrived"), (50, "done")):
        answer = app.tap(crew["order"].pk, action, device_time=start + dt.timedelta(minutes=minutes))
        assert answer.status_code == 200, answer.content
    assert not SmsMessage.objects.filter(kind__in=["on_my_way", "running_late"]).exists()


# --- Location reports -----------------------------------------------------------------------------


def test_a_location_report_is_applied_once(client, crew):
    app = App(client, "zhang")
    event_id = uuid.uuid4().hex
    first = app.location(31.25, 121.47, event_id=event_id)
    again = app.location(31.25, 121.47, event_id=event_id)
    assert first.json() == {"duplicate": False, "accepted": True, "reason": ""}
    assert again.json() == {"duplicate": True, "accepted": True, "reason": ""}
    assert TechnicianLocation.objects.filter(client_event_id=event_id).count() == 1
    crew["zhang"].refresh_from_db()
    assert (crew["zhang"].last_latitude, crew["zhang"].last_longitude) == (31.25, 121.47)


def test_a_late_or_older_report_is_history_only(client, crew):
    app = App(client, "zhang")
    now = timezone.now()
    assert app.location(31.25, 121.47, device_time=now - dt.timedelta(minutes=1)).json()["accepted"] is True
    older = app.location(31.10, 121.30, device_time=now - dt.timedelta(minutes=3))
    old = app.location(31.10, 121.30, device_time=now - services.LOCATION_FRESH_FOR - dt.timedelta(minutes=1))
    ahead = app.location(31.10, 121.30, device_time=now + services.DEVICE_TIME_AHEAD + dt.timedelta(minutes=1))
    assert [r.json() for r in (older, old, ahead)] == [
        {"duplicate": False, "accepted": False, "reason": "older"},
        {"duplicate": False, "accepted": False, "reason": "old"},
        {"duplicate": False, "accepted": False, "reason": "clock_ahead"},
    ]
    crew["zhang"].refresh_from_db()
    assert (crew["zhang"].last_latitude, crew["zhang"].last_longitude) == (31.25, 121.47)
    assert TechnicianLocation.objects.filter(technician=crew["zhang"]).count() == 4


def test_a_fresh_report_far_behind_tells_the_customer_running_late(client, crew):
    app = App(client, "zhang")
    assert app.tap(crew["order"].pk, "on_my_way", latitude=31.2390, longitude=121.4790).status_code == 200
    assert SmsMessage.objects.filter(kind="on_my_way").count() == 1
    # Far away: the ETA slips by much more than 15 minutes. A report made long ago changes nothing.
    late = app.location(31.45, 121.75, device_time=timezone.now() - dt.timedelta(hours=3))
    assert late.json()["accepted"] is False
    assert not SmsMessage.objects.filter(kind="running_late").exists()
    fresh = app.location(31.45, 121.75)
    assert fresh.json()["accepted"] is True
    assert SmsMessage.objects.filter(kind="running_late", work_order_id=crew["order"].pk).count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"latitude": 91},
        {"longitude": -181},
        {"accuracy_m": -1},
        {"device_time": "2026-11-22T10:00:00"},
        {"client_event_id": ""},
    ],
)
def test_bad_location_reports_are_422(client, crew, change):
    app = App(client, "zhang")
    body = {"client_event_id": "x1", "device_time": timezone.now().isoformat(), "latitude": 31.2, "longitude": 121.4}
    assert app.post("location", {**body, **change}).status_code == 422
    assert not TechnicianLocation.objects.exists()


def test_location_needs_a_technicians_token(client, crew):
    body = {"client_event_id": "x1", "device_time": timezone.now().isoformat(), "latitude": 31.2, "longitude": 121.4}
    assert client.post("/api/mobile/location", body, content_type="application/json").status_code == 401
    client.force_login(factories.staff(username="agent"))
    assert client.post("/api/mobile/location", body, content_type="application/json").status_code == 403


# --- Photos ---------------------------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def photo_bytes(size=400_000):
    return bytes((i * 7 + i // 251) % 256 for i in range(size))


def start_photo(app, order_id, data, *, photo_id=None, **change):
    body = {
        "client_photo_id": photo_id or uuid.uuid4().hex,
        "work_order_id": order_id,
        "filename": "水管.jpg",
        "content_type": "image/jpeg",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        **change,
    }
    return app.post("photos", body)


def test_a_photo_uploads_in_three_chunks_and_lands_on_the_order(client, crew, media):
    app = App(client, "zhang")
    data = photo_bytes()
    started = start_photo(app, crew["order"].pk, data)
    assert started.status_code == 200, started.content
    photo_id = started.json()["client_photo_id"]
    assert started.json() == {"client_photo_id": photo_id, "received": 0, "complete": False}
    cuts = [0, 150_000, 300_000, len(data)]
    answers = [app.put_chunk(photo_id, a, data[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["received"] for a in answers] == cuts[1:]
    assert [a.json()["complete"] for a in answers] == [False, False, True]
    photo = WorkOrderPhoto.objects.get(client_photo_id=photo_id)
    with default_storage.open(photo.file.name) as stored:
        assert stored.read() == data
    assert not photo.chunks.exists()
    note = WorkOrderEvent.objects.get(work_order=crew["order"], kind=EventKind.NOTE, data__photo=photo_id)
    assert "水管.jpg" in note.text
    job = app.jobs().json()["jobs"][0]
    assert job["photos"] == [{"client_photo_id": photo_id, "complete": True}]
    # Starting it again answers its state.
    assert start_photo(app, crew["order"].pk, data, photo_id=photo_id).json()["complete"] is True


def test_a_lost_answer_is_resumed_from_what_the_server_received(client, crew, media):
    app = App(client, "zhang")
    data = photo_bytes(300_000)
    photo_id = start_photo(app, crew["order"].pk, data).json()["client_photo_id"]
    assert app.put_chunk(photo_id, 0, data[:100_000]).status_code == 200
    # The second chunk arrived but its answer was lost: the phone sends it again.
    assert app.put_chunk(photo_id, 100_000, data[100_000:200_000]).status_code == 200
    repeat = app.put_chunk(photo_id, 100_000, data[100_000:200_000])
    assert repeat.status_code == 409
    assert repeat.json()["extra"]["received"] == 200_000
    # After a restart the phone asks where it stands, and goes on from there.
    assert start_photo(app, crew["order"].pk, data, photo_id=photo_id).json()["received"] == 200_000
    done = app.put_chunk(photo_id, 200_000, data[200_000:])
    assert done.json() == {"client_photo_id": photo_id, "received": 300_000, "complete": True}
    with default_storage.open(WorkOrderPhoto.objects.get(client_photo_id=photo_id).file.name) as stored:
        assert stored.read() == data


def test_a_checksum_mismatch_discards_the_bytes_to_start_over(client, crew, media):
    app = App(client, "zhang")
    data = photo_bytes(200_000)
    photo_id = start_photo(app, crew["order"].pk, data).json()["client_photo_id"]
    assert app.put_chunk(photo_id, 0, data[:100_000]).status_code == 200
    corrupted = bytes([data[100_000] ^ 1]) + data[100_001:]
    bad = app.put_chunk(photo_id, 100_000, corrupted)
    assert bad.status_code == 422
    assert bad.json()["extra"]["received"] == 0
    photo = WorkOrderPhoto.objects.get(client_photo_id=photo_id)
    assert (photo.received, photo.complete, photo.chunks.count()) == (0, False, 0)
    assert app.put_chunk(photo_id, 0, data).json()["complete"] is True


def test_photo_refusals(client, crew, media):
    app = App(client, "zhang")
    data = photo_bytes(1000)
    # Another technician's order answers like a missing one.
    other = assign(order_at(phone="+8613800139004"), crew["li"], timezone.now() + dt.timedelta(hours=2))
    assert start_photo(app, other.pk, data).status_code == 404
    assert start_photo(app, 999_999, data).status_code == 404
    # Too big, a wrong type, a bad checksum format.
    assert start_photo(app, crew["order"].pk, data, size=15 * 1024 * 1024 + 1).status_code == 422
    assert start_photo(app, crew["order"].pk, data, content_type="application/pdf").status_code == 422
    assert start_photo(app, crew["order"].pk, data, sha256="abc").status_code == 422
    photo_id = start_photo(app, crew["order"].pk, data).json()["client_photo_id"]
    # The same id for another photo.
    assert start_photo(app, crew["order"].pk, data, photo_id=photo_id, filename="其他.jpg").status_code == 409
    # Bytes past the size, a negative offset.
    assert app.put_chunk(photo_id, 0, data + b"x").status_code == 422
    assert app.put_chunk(photo_id, -1, data).status_code == 422
    # Another technician cannot write to it.
    li = App(client, "li")
    assert li.put_chunk(photo_id, 0, data).status_code == 404
    assert WorkOrderPhoto.objects.get(client_photo_id=photo_id).received == 0
