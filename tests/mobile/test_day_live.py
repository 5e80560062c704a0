"""A technician's day on the real app (offscreen Kivy window) against a live test server.

The phone reaches the server through a relay the test can switch off: the technician logs in,
sees three jobs, loses signal for the whole day's work (taps, the finish form with parts and a
photo, location reports while driving), and comes back online in the evening. The server must
then hold every event once, in order, with the phone's own times; the customers must get no
stale "on my way"/"arrived" texts and nothing twice.

The phone's clock is the real clock set back three hours (``device_now`` is the phone's clock):
the day's taps "happened" this morning and reach the server hours late, as they do after a day
in basements and lift shafts.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections import Counter

import pytest
from django.utils import timezone

from mobile.services import outbox as outbox_module
from mobile.services.location import FixedLocation
from mobile.services.outbox import BATCH_EVENTS, LOCATION, TAP
from mobile.services.photos import DONE
from notifications.models import SmsMessage
from server.accounts.models import Role
from server.scheduling import changes
from server.technicians.models import TechnicianLocation
from server.workorders.models import Status, WorkOrder, WorkOrderEvent, WorkOrderPhoto
from tests import factories
from tests.mobile.glyphs import screenshot_has_content
from tests.netswitch import Relay
from tests.server.test_promises import dispatched

pytestmark = [pytest.mark.ui, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-123456"
PHONE_AT = (31.2350, 121.4750)


@pytest.fixture
def relay(live_server):
    relay = Relay(live_server.url)
    yield relay
    relay.stop()


@pytest.fixture
def morning_clock(monkeypatch):
    """The phone's clock: three hours back, two minutes on per reading (taps, positions)."""
    start = timezone.now() - dt.timedelta(hours=3)
    ticks = itertools.count()

    def device_now() -> str:
        moment = start + dt.timedelta(minutes=2 * next(ticks))
        return moment.astimezone().isoformat(timespec="milliseconds")

    monkeypatch.setattr(outbox_module, "device_now", device_now)
    return start


@pytest.fixture
def day(settings):
    settings.SMS_PROVIDER = "console"
    settings.SMS_SIGNATURE = "品牌"
    zhang = factories.technician(name="张伟", username="zhang", password=PASSWORD, lat=31.23, lon=121.47)
    orders = [
        dispatched(31.24, 121.48, phone="+8613800150001"),
        dispatched(31.25, 121.49, phone="+8613800150002"),
        dispatched(31.26, 121.50, phone="+8613800150003"),
    ]
    assert {order.technician_id for order in orders} == {zhang.pk}
    return {"zhang": zhang, "orders": orders}


def _photo(tmp_path, name="boiler.jpg", size=700_000) -> str:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return str(path)


def _finish(phone, ui, *, resolution: str, parts=(), photo: str | None = None) -> None:
    phone.tap_action("done")
    assert phone.current == "finish"
    form = phone.app.root.get_screen("finish")
    ui.type_into(form.ids.resolution, resolution)
    for name, quantity in parts:
        ui.tap(form.ids.add_part_button)
        row = form.part_rows()[-1]
        ui.type_into(row.ids.name, name)
        ui.type_into(row.ids.quantity, str(quantity))
    if photo is not None:
        assert form.add_photo_path(photo)
    ui.tap(form.ids.submit_button)
    assert phone.current == "job_detail"


def _drive(phone, ui, reports: int) -> None:
    """On the way: the app queues a position every interval while a job is en route."""
    before = len([e for e in phone.app.outbox.pending() if e.kind == LOCATION])
    ui.wait_until(
        lambda: len([e for e in phone.app.outbox.pending() if e.kind == LOCATION]) >= before + reports,
        timeout=10,
        what=f"{reports} location reports queued",
    )


def test_a_day_offline_reaches_the_server_once_in_order_with_the_phones_times(
    day, relay, morning_clock, technician_app, ui, tmp_path, artifact
):
    phone = technician_app(relay.url, location=FixedLocation(*PHONE_AT), location_every_s=0.15, poll_first_s=0.5)
    phone.login("zhang", PASSWORD)
    jobs = phone.wait_for_jobs(3)
    assert [job["id"] for job in jobs] == [o.pk for o in sorted(day["orders"], key=lambda o: o.route_position)]

    relay.online = False
    photo = _photo(tmp_path)
    for index in range(3):
        phone.open_job(index)
        phone.tap_action("on_my_way")
        _drive(phone, ui, reports=2)
        phone.tap_action("arrived")
        if index == 0:
            parts = [("压力传感器 PS-2", 1), ("密封圈", 2)]
            _finish(phone, ui, resolution="更换了压力传感器", parts=parts, photo=photo)
        else:
            _finish(phone, ui, resolution=f"清洗滤芯 {index}")
    ui.pump_for(0.5)
    # Nothing has reached the server; the phone shows the day as done and says it is waiting.
    assert not WorkOrderEvent.objects.filter(client_event_id__isnull=False).exists()
    assert not TechnicianLocation.objects.exists()
    assert [job["status"] for job in phone.app.board.jobs] == ["completed"] * 3
    queued = phone.app.outbox.pending()
    taps = [e for e in queued if e.kind == TAP]
    positions = [e for e in queued if e.kind == LOCATION]
    assert [e.action for e in taps] == ["on_my_way", "arrived", "done"] * 3
    assert len(positions) >= 6
    assert phone.app.sync.pending_count == len(queued)
    assert phone.app.sync.photo_count == 1
    assert screenshot_has_content(artifact("day-offline"))

    batches: list[int] = []
    send_batch = phone.app.api.send_batch
    phone.app.api.send_batch = lambda events: (batches.append(len(events)), send_batch(events))[1]
    relay.online = True
    phone.app.sync.sync_now()
    phone.wait_synced(timeout=60)
    ui.wait_until(lambda: phone.app.sync.photo_count == 0, timeout=60, what="the photo uploaded")
    # The backlog went in batches: one round trip per 50 events, not one per event.
    assert batches == [min(BATCH_EVENTS, len(queued) - i) for i in range(0, len(queued), BATCH_EVENTS)]
    assert [p.state for p in phone.app.photos.all()] == [DONE]

    # Every tap once, in the phone's order, with the phone's own times.
    applied = list(
        WorkOrderEvent.objects.filter(client_event_id__isnull=False)
        .exclude(client_event_id="")
        .order_by("id")
        .values_list("client_event_id", "device_time")
    )
    assert [cid for cid, _ in applied] == [e.client_event_id for e in taps]
    assert [when for _, when in applied] == [dt.datetime.fromisoformat(e.device_time) for e in taps]
    # Every position once, with its time; none of them is fresh enough to move today's position.
    stored = dict(TechnicianLocation.objects.values_list("client_event_id", "device_time"))
    assert stored == {e.client_event_id: dt.datetime.fromisoformat(e.device_time) for e in positions}
    # The finish form's content and the photo.
    first = WorkOrder.objects.get(pk=jobs[0]["id"])
    assert first.status == Status.COMPLETED
    assert first.resolution == "更换了压力传感器"
    assert first.parts_used == [{"name": "压力传感器 PS-2", "quantity": 1}, {"name": "密封圈", "quantity": 2}]
    [uploaded] = WorkOrderPhoto.objects.filter(work_order=first)
    assert uploaded.received == uploaded.size == os.path.getsize(photo)
    assert set(WorkOrder.objects.values_list("status", flat=True)) == {Status.COMPLETED}
    # The customers: booked when dispatched, the rating request now; no stale on-my-way or
    # arrived texts, no running-late judged from the morning, nothing twice.
    kinds = Counter(SmsMessage.objects.values_list("to", "kind"))
    assert all(count == 1 for count in kinds.values()), kinds
    assert {kind for _, kind in kinds} == {"booked", "completed"}
    assert len(kinds) == 6
    assert screenshot_has_content(artifact("day-synced"))


def test_a_job_reassigned_while_offline_refuses_its_taps_visibly_and_loses_no_other(
    day, relay, technician_app, ui, artifact
):
    li = factories.technician(name="李强", username="li", password=PASSWORD, lat=31.30, lon=121.60)
    phone = technician_app(relay.url, location=FixedLocation(*PHONE_AT), location_every_s=0, poll_first_s=0.5)
    phone.login("zhang", PASSWORD)
    jobs = phone.wait_for_jobs(3)
    first, second = jobs[0]["id"], jobs[1]["id"]

    relay.online = False
    phone.open_job(0)
    phone.tap_action("on_my_way")
    phone.tap_action("arrived")
    _finish(phone, ui, resolution="修好了")
    # The office gives the second job to 李强 while the phone has no signal...
    dispatcher = factories.user(username="dispatcher", role=Role.DISPATCHER)
    changes.work_order_assign_by_hand(work_order_id=second, technician_id=li.pk, actor=dispatcher)
    assert WorkOrder.objects.get(pk=second).technician_id == li.pk
    # ... and the technician, not knowing, sets off for it.
    phone.open_job(1)
    phone.tap_action("on_my_way")
    assert [e.work_order_id for e in phone.app.outbox.pending()] == [first, first, first, second]

    relay.online = True
    phone.app.sync.sync_now()
    phone.wait_synced(timeout=30)

    # The first job's taps all arrived; the second's was refused and the phone shows why.
    assert [e.to_status for e in WorkOrderEvent.objects.filter(work_order_id=first, client_event_id__isnull=False)] == [
        Status.EN_ROUTE,
        Status.ON_SITE,
        Status.COMPLETED,
    ]
    assert not WorkOrderEvent.objects.filter(work_order_id=second, client_event_id__isnull=False).exists()
    assert WorkOrder.objects.get(pk=second).status == Status.SCHEDULED
    assert phone.app.sync.rejected_count == 1
    # The job list no longer holds the job as the technician's; its card stays, marked, until the
    # refusal is acknowledged.
    phone.app.board.refresh()
    ui.wait_until(lambda: not phone.app.board.loading, what="the list refreshed")
    ui.frames(3)
    card = phone.app.board.job(second)
    assert card is not None
    assert card.get("_withdrawn")
    assert "no longer assigned to you" in card["_rejected"]
    row = next(r for r in phone.jobs_screen.rows() if r.job_id == second)
    assert "no longer assigned to you" in row.note
    phone.open_job(job_id=second)
    assert "no longer assigned to you" in phone.detail.rejection
    assert list(phone.detail.allowed) == []
    assert screenshot_has_content(artifact("day-reassigned"))
    ui.tap(phone.detail.ids.dismiss_rejection)
    ui.frames(2)
    assert phone.app.board.job(second) is None
    assert phone.app.sync.rejected_count == 0
