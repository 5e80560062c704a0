"""``POST /api/mobile/events/batch``: a phone's queued taps and positions in one request, applied in
order as if sent one by one (each once), each answered; a refusal does not stop the rest."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.utils import timezone

from mobile.services.outbox import BATCH_BYTES, BATCH_EVENTS, Outbox
from notifications.models import SmsMessage
from server.technicians.models import TechnicianLocation
from server.workorders import services
from server.workorders.models import Status, WorkOrder, WorkOrderEvent
from tests import factories
from tests.server.test_mobile_api_app import App, assign, order_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def crew():
    zhang = factories.technician(name="张伟", username="zhang", lat=31.2300, lon=121.4700)
    li = factories.technician(name="李强", username="li", lat=31.3000, lon=121.6000)
    return {"zhang": zhang, "li": li, "order": assign(order_at(), zhang, timezone.now() + dt.timedelta(minutes=40))}


def tap(order_id, action, at, **extra):
    return {
        "type": "tap",
        "client_event_id": uuid.uuid4().hex,
        "work_order_id": order_id,
        "action": action,
        "device_time": at.isoformat(),
        **extra,
    }


def position(lat, lon, at):
    return {
        "type": "location",
        "client_event_id": uuid.uuid4().hex,
        "device_time": at.isoformat(),
        "latitude": lat,
        "longitude": lon,
    }


def send(app, events):
    return app.post("events/batch", {"events": events})


def test_a_batch_applies_taps_and_positions_in_order_once_each(client, crew):
    app = App(client, "zhang")
    start = timezone.now() - dt.timedelta(minutes=8)
    order = crew["order"].pk
    events = [
        tap(order, "on_my_way", start),
        position(31.235, 121.475, start + dt.timedelta(minutes=1)),
        position(31.238, 121.478, start + dt.timedelta(minutes=2)),
        tap(order, "arrived", start + dt.timedelta(minutes=3)),
        tap(
            order,
            "done",
            start + dt.timedelta(minutes=5),
            resolution="换了滤芯",
            parts=[{"name": "滤芯", "quantity": 1}],
        ),
    ]
    answer = send(app, events)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert [(r["client_event_id"], r["status"], r["duplicate"]) for r in body["results"]] == [
        (e["client_event_id"], 200, False) for e in events
    ]
    assert [r["accepted"] for r in body["results"] if r["accepted"] is not None] == [True, True]
    [job] = body["jobs"]
    assert (job["id"], job["status"], job["resolution"]) == (order, "completed", "换了滤芯")
    taps = WorkOrderEvent.objects.filter(work_order_id=order, client_event_id__isnull=False).order_by("id")
    assert [(e.client_event_id, e.device_time) for e in taps] == [
        (e["client_event_id"], dt.datetime.fromisoformat(e["device_time"])) for e in events if e["type"] == "tap"
    ]
    assert TechnicianLocation.objects.count() == 2
    # The answer was lost: the phone sends the same batch again. Nothing is applied twice.
    again = send(app, events).json()
    assert [(r["status"], r["duplicate"]) for r in again["results"]] == [(200, True)] * 5
    assert WorkOrderEvent.objects.filter(client_event_id__isnull=False).count() == 3
    assert TechnicianLocation.objects.count() == 2
    assert SmsMessage.objects.filter(kind="on_my_way").count() == 1
    assert SmsMessage.objects.filter(kind="completed").count() == 1


def test_a_refused_event_is_answered_and_the_rest_still_applied(client, crew):
    app = App(client, "zhang", language="en")
    now = timezone.now()
    mine = crew["order"].pk
    theirs = assign(order_at(phone="+8613800139077"), crew["li"], now + dt.timedelta(hours=1)).pk
    events = [
        tap(mine, "on_my_way", now - dt.timedelta(minutes=3)),
        tap(theirs, "on_my_way", now - dt.timedelta(minutes=2)),  # 李强's order: answered as missing
        tap(mine, "done", now - dt.timedelta(minutes=1)),  # not from on the way: the state machine says no
        tap(mine, "arrived", now),
    ]
    body = send(app, events).json()
    assert [r["status"] for r in body["results"]] == [200, 404, 409, 200]
    assert body["results"][1]["message"] == f"Work order {theirs} does not exist"
    assert body["results"][2]["message"]
    assert WorkOrder.objects.get(pk=mine).status == Status.ON_SITE
    assert WorkOrder.objects.get(pk=theirs).status == Status.SCHEDULED
    assert [job["id"] for job in body["jobs"]] == [mine]


def test_running_late_is_judged_once_after_the_batch_from_the_newest_position(client, crew):
    app = App(client, "zhang")
    assert app.tap(crew["order"].pk, "on_my_way", latitude=31.2390, longitude=121.4790).status_code == 200
    now = timezone.now()
    # Three positions, each farther away: one check after the batch, one text.
    events = [position(31.35 + 0.05 * i, 121.65 + 0.05 * i, now + dt.timedelta(seconds=i)) for i in range(3)]
    assert send(app, events).status_code == 200
    assert SmsMessage.objects.filter(kind="running_late", work_order_id=crew["order"].pk).count() == 1
    late = WorkOrderEvent.objects.get(work_order=crew["order"], kind="sms", data__sms_kind="running_late")
    assert late.data["trigger"] == "sync of 3 events"


def test_a_batch_of_late_events_sends_no_eta_text(client, crew):
    app = App(client, "zhang")
    start = timezone.now() - dt.timedelta(minutes=services.STALE_TAP_MINUTES + 30)
    events = [
        tap(crew["order"].pk, "on_my_way", start),
        position(31.45, 121.75, start + dt.timedelta(minutes=5)),
        tap(crew["order"].pk, "arrived", start + dt.timedelta(minutes=20)),
    ]
    assert [r["status"] for r in send(app, events).json()["results"]] == [200, 200, 200]
    assert not SmsMessage.objects.filter(kind__in=["on_my_way", "running_late", "arrived"]).exists()


@pytest.mark.parametrize(
    ("events", "why"),
    [
        ([], "empty"),
        ("many", "over the limit"),
        ([{"type": "teleport", "client_event_id": "a"}], "unknown type"),
        ([{"type": "tap", "client_event_id": "a", "work_order_id": 1, "action": "on_my_way"}], "no device time"),
    ],
)
def test_bad_batches_are_422_and_apply_nothing(client, crew, events, why):
    app = App(client, "zhang")
    if events == "many":
        now = timezone.now()
        events = [position(31.2, 121.4, now) for _ in range(services.EVENT_BATCH_MAX + 1)]
    assert send(app, events).status_code == 422, why
    assert not TechnicianLocation.objects.exists()
    assert not WorkOrderEvent.objects.filter(client_event_id__isnull=False).exists()


def test_the_batch_needs_a_technicians_token(client, crew):
    body = {"events": [position(31.2, 121.4, timezone.now())]}
    assert client.post("/api/mobile/events/batch", body, content_type="application/json").status_code == 401


def test_the_phones_fullest_batch_fits_the_servers_limits(client, crew, tmp_path, settings):
    """The app's batch limits (mobile/services/outbox.py) against the server's: at most as many
    events as the server takes, and a body under its request size limit even when every event is
    a "done" with the longest resolution and the most parts."""
    assert BATCH_EVENTS == services.EVENT_BATCH_MAX
    assert BATCH_BYTES < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    outbox = Outbox(str(tmp_path / "outbox.sqlite3"))
    parts = [{"name": "滤" * services.PART_NAME_MAX_LENGTH, "quantity": 999}] * services.PARTS_MAX
    for _ in range(BATCH_EVENTS):
        outbox.add(
            work_order_id=crew["order"].pk,
            action="done",
            details={"resolution": "修" * services.RESOLUTION_MAX_LENGTH, "parts": parts},
        )
    batch = outbox.next_pending_batch(max_events=BATCH_EVENTS, max_bytes=BATCH_BYTES)
    assert 1 <= len(batch) < BATCH_EVENTS
    # As the app's client sends it: UTF-8 JSON (Chinese in 3 bytes, not as 6-byte escapes).
    body = json.dumps({"events": [dict(event.payload(), type="tap") for event in batch]}, ensure_ascii=False)
    app = App(client, "zhang")
    answer = client.post("/api/mobile/events/batch", body, content_type="application/json", **app.headers)
    assert answer.status_code == 200, answer.content[:300]
    # "done" from scheduled is refused by the state machine, each on its own.
    assert {r["status"] for r in answer.json()["results"]} == {409}
    outbox.close()
