"""Server glue for the optimizer on a small seeded day."""

import datetime as dt
import random

import pytest
from django.core.management import call_command
from django.utils import timezone

from dispatch.insertion import insert_job
from dispatch.result import check_plan
from server.customers.models import Customer, Site
from server.intake import services as intake_services
from server.scheduling import services
from server.scheduling.snapshot import current_plan, order_key, shift_occurrence, snapshot_build
from server.workorders.models import Status, WorkOrder
from server.workorders.services import work_order_create, work_order_transition
from tests import factories

pytestmark = pytest.mark.django_db


def seeded_day(n_orders=10, seed=7):
    rng = random.Random(seed)
    techs = [
        factories.technician(name="张伟", lat=31.23, lon=121.47, skills=("water_purifier",)),
        factories.technician(name="李强", lat=31.20, lon=121.52, skills=("hvac", "water_purifier")),
        factories.technician(name="王磊", lat=31.27, lon=121.43, skills=("hvac",)),
    ]
    orders = []
    for i in range(n_orders):
        customer = Customer.objects.create(name=f"c{i}", phone=f"+86138001390{i:02d}")
        site = Site.objects.create(
            customer=customer,
            address=f"addr {i}",
            latitude=31.18 + rng.random() * 0.12,
            longitude=121.40 + rng.random() * 0.15,
        )
        skill = factories.skill("hvac" if i % 3 == 0 else "water_purifier")
        orders.append(
            work_order_create(customer=customer, site=site, problem=f"p{i}", required_skill=skill, service_minutes=45)
        )
    return techs, orders


def test_replan_assigns_every_order_with_skills_and_a_valid_plan():
    techs, orders = seeded_day()
    summary = services.day_replan(time_limit_s=1.0, workers=1)
    assert summary.violations == []
    assert summary.assigned == len(orders)
    assert summary.unassigned == {}
    for order in WorkOrder.objects.select_related("technician", "required_skill"):
        assert order.status == Status.SCHEDULED
        assert order.required_skill.code in set(order.technician.skills.values_list("code", flat=True))
        assert order.planned_arrival is not None
        assert order.route_position >= 1
        assert order.assignment_explanation["chosen"] == order.technician.name
    snapshot = snapshot_build()
    assert check_plan(snapshot.problem, current_plan(snapshot)) == []


def test_an_order_on_the_way_never_moves_and_comes_first():
    techs, orders = seeded_day()
    services.day_replan(time_limit_s=1.0, workers=1)
    # The last stop of the busiest technician's route sets off now.
    busiest = max(techs, key=lambda t: WorkOrder.objects.filter(technician=t).count())
    moving = WorkOrder.objects.filter(technician=busiest).order_by("route_position").last()
    assert moving.route_position > 1
    work_order_transition(work_order_id=moving.pk, to_status=Status.EN_ROUTE)
    services.day_replan(time_limit_s=1.0, workers=1)
    moving.refresh_from_db()
    assert moving.technician == busiest
    assert moving.status == Status.EN_ROUTE
    assert moving.route_position == 1


def test_insertion_on_the_small_snapshot_matches_the_full_one():
    seeded_day(n_orders=8)
    services.day_replan(time_limit_s=1.0, workers=1)
    customer = factories.customer(phone="+8613800138999")
    order = work_order_create(
        customer=customer,
        site=customer.sites.get(),
        problem="urgent",
        required_skill=factories.skill("water_purifier"),
        priority="urgent",
    )
    full = snapshot_build()
    small = snapshot_build(insert_only=order.pk)
    assert len(small.problem.jobs) == 9  # the eight routed orders and the new one
    a = insert_job(full.problem, current_plan(full), order_key(order.pk))
    b = insert_job(small.problem, current_plan(small), order_key(order.pk))
    assert (a.technician_id, a.position, a.arrival) == (b.technician_id, b.position, b.arrival)


def test_an_order_nobody_can_do_stays_new_with_the_reason():
    factories.technician(name="张伟", skills=("water_purifier",))
    customer = factories.customer(equipment_skill=None)
    order = intake_services.work_order_create_and_dispatch(
        customer=customer, site=customer.sites.get(), problem="boiler", required_skill=factories.skill("gas")
    )
    assert order.status == Status.NEW
    assert order.technician is None
    note = order.events.filter(text__startswith="Not dispatched").get()
    assert "gas" in note.text


def test_only_the_newest_replan_request_runs(django_capture_on_commit_callbacks, monkeypatch):
    runs = []
    monkeypatch.setattr(services, "day_replan", lambda **kwargs: runs.append(kwargs) or "ran")
    from server.scheduling.tasks import replan as replan_task

    calls = []
    monkeypatch.setattr(replan_task, "apply_async", lambda kwargs, countdown: calls.append(kwargs["token"]))
    with django_capture_on_commit_callbacks(execute=True):
        services.replan_request()
        services.replan_request()
    assert len(calls) == 2
    assert services.replan_if_current(token=calls[0]) is None
    assert services.replan_if_current(token=calls[1]) == "ran"
    assert len(runs) == 1


def test_shift_occurrence_handles_night_and_round_the_clock_shifts():
    tz = timezone.get_current_timezone()
    now = dt.datetime(2026, 11, 22, 23, 30, tzinfo=tz)
    night = factories.technician(shift=(dt.time(22, 0), dt.time(6, 0)))
    start, end = shift_occurrence(night, now=now)
    assert start == dt.datetime(2026, 11, 22, 22, 0, tzinfo=tz)
    assert end == dt.datetime(2026, 11, 23, 6, 0, tzinfo=tz)
    day_shift = factories.technician(shift=(dt.time(8, 0), dt.time(18, 0)))
    start, _ = shift_occurrence(day_shift, now=now)
    assert start == dt.datetime(2026, 11, 23, 8, 0, tzinfo=tz)  # tonight's is over: tomorrow's
    always = factories.technician(shift=(dt.time(0, 0), dt.time(0, 0)))
    start, end = shift_occurrence(always, now=now)
    assert end - start == dt.timedelta(hours=24)
    assert start <= now < end


def test_replan_command_prints_progress_and_draws_the_routes(tmp_path, capsys):
    seeded_day(n_orders=6)
    picture = tmp_path / "plan.png"
    call_command("replan", "--seconds", "1", "--workers", "1", "--picture", str(picture))
    out = capsys.readouterr().out
    assert "Planning 6 orders for 3 technicians" in out
    assert "6/6 assigned" in out
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size > 10_000


def test_retime_writes_every_change_in_one_statement():
    techs, orders = seeded_day(n_orders=4)
    services.day_replan(time_limit_s=1.0, workers=1)
    first, second, untouched = orders[0], orders[1], orders[2]
    untouched.refresh_from_db()
    first.refresh_from_db()
    second.refresh_from_db()
    # Local 23:30: a date boundary in UTC.
    arrival = dt.datetime(2026, 12, 1, 23, 30, tzinfo=timezone.get_current_timezone())
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from server.workorders.services import work_orders_retime

    with CaptureQueriesContext(connection) as queries:
        changed = work_orders_retime(
            changes=[
                (first.pk, 7, arrival, first.version),
                (second.pk, 8, arrival + dt.timedelta(minutes=50), second.version),
                (untouched.pk, 9, arrival, untouched.version + 1),  # planned from an older version
            ]
        )
    assert sorted(changed) == sorted([first.pk, second.pk])
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["UPDATE"]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.route_position, first.planned_arrival) == (7, arrival)
    assert first.scheduled_day == dt.date(2026, 12, 1)
    assert second.route_position == 8
    assert second.scheduled_day == dt.date(2026, 12, 2)
    before = untouched.updated_at, untouched.route_position, untouched.planned_arrival
    untouched.refresh_from_db()
    assert (untouched.updated_at, untouched.route_position, untouched.planned_arrival) == before


def test_an_urgent_order_goes_to_the_nearest_technicians_and_to_everyone_if_they_are_full(monkeypatch):
    from server.scheduling import snapshot as snapshot_module

    monkeypatch.setattr(snapshot_module, "SHORTLIST_ABOVE", 4)
    monkeypatch.setattr(snapshot_module, "PLACE_AMONG_NEAREST", 2)
    monkeypatch.setattr(snapshot_module, "PLACE_ALSO_UNSKILLED", 1)
    near = factories.technician(name="近一", lat=31.230, lon=121.456, skills=("water_purifier",))
    nearer_unskilled = factories.technician(name="近无", lat=31.229, lon=121.456, skills=("hvac",))
    second = factories.technician(name="近二", lat=31.240, lon=121.456, skills=("water_purifier",))
    far = factories.technician(name="远", lat=31.330, lon=121.456, skills=("water_purifier",))
    factories.technician(name="远无", lat=31.400, lon=121.456, skills=("hvac",))
    customer = factories.customer()  # at 31.2290, 121.4560, needs water_purifier
    order = work_order_create(
        customer=customer, site=customer.sites.get(), problem="leak", required_skill=factories.skill("water_purifier")
    )

    placing = snapshot_module.order_to_place(order.pk)
    assert snapshot_module.nearby_technicians(placing) == {near.pk, second.pk, nearer_unskilled.pk}
    monkeypatch.setattr(snapshot_module, "SHORTLIST_ABOVE", 5)  # a small fleet is compared whole
    assert snapshot_module.nearby_technicians(placing) is None
    monkeypatch.setattr(snapshot_module, "SHORTLIST_ABOVE", 4)

    for tech in (near, second):  # the nearest are fully booked
        tech.max_jobs_per_day = 0
        tech.save()
    placed = services.work_order_dispatch(work_order_id=order.pk)
    assert placed.technician == far
    assert placed.status == Status.SCHEDULED
    names = [row["technician"] for row in placed.assignment_explanation["candidates"]]
    assert "远" in names
    assert "近一" in names


def test_a_round_the_clock_technician_is_free_for_the_whole_horizon_even_at_midnight():
    factories.technician(name="夜班", lat=31.23, lon=121.47)  # 00:00-00:00
    factories.technician(name="日班", lat=31.23, lon=121.47, username="day", shift=(dt.time(8, 0), dt.time(18, 0)))
    late = dt.datetime(2026, 12, 1, 23, 30, tzinfo=timezone.get_current_timezone())
    snapshot = snapshot_build(now=late)
    ends = {t.name: (t.shift_start, t.shift_end) for t in snapshot.problem.technicians}
    assert ends["夜班"] == (0, 24 * 60)  # not just the 30 minutes to midnight
    assert ends["日班"] == (8 * 60 + 30, 18 * 60 + 30)  # tomorrow 08:00-18:00, not stretched


def test_reasons_give_the_local_clock_time():
    factories.technician(name="日班", lat=31.30, lon=121.47, shift=(dt.time(8, 0), dt.time(18, 0)))
    customer = factories.customer()  # about 8 km south of the technician
    ten = dt.datetime(2026, 12, 1, 10, 0, tzinfo=timezone.get_current_timezone())
    order = work_order_create(
        customer=customer,
        site=customer.sites.get(),
        problem="leak",
        required_skill=factories.skill("water_purifier"),
        window_start=ten,
        window_end=ten + dt.timedelta(minutes=5),
    )

    placed = services.work_order_dispatch(work_order_id=order.pk, now=ten)

    assert placed.status == Status.NEW
    note = placed.events.filter(text__startswith="Not dispatched").get()
    assert "window ends 10:05" in note.text, note.text


def test_a_technician_whose_day_runs_over_gets_no_new_order():
    from server.workorders.services import work_order_assign

    near = factories.technician(name="近", lat=31.229, lon=121.457, shift=(dt.time(8, 0), dt.time(18, 0)))
    far = factories.technician(
        name="远", lat=31.260, lon=121.456, username="far", shift=(dt.time(8, 0), dt.time(18, 0))
    )
    five = dt.datetime(2026, 12, 1, 17, 0, tzinfo=timezone.get_current_timezone())
    customer = factories.customer()
    # Planned earlier: a two-hour job for the near technician, who now has one hour left.
    long_job = work_order_create(
        customer=customer,
        site=customer.sites.get(),
        problem="overhaul",
        required_skill=factories.skill("water_purifier"),
        service_minutes=120,
    )
    work_order_assign(
        work_order_id=long_job.pk, technician=near, day=five.date(), planned_arrival=five, route_position=1
    )
    order = work_order_create(
        customer=customer,
        site=customer.sites.get(),
        problem="leak",
        required_skill=factories.skill("water_purifier"),
        service_minutes=30,
    )

    placed = services.work_order_dispatch(work_order_id=order.pk, now=five)

    # The near technician's evening is already full: the long job is still theirs, so the new
    # order must not be slotted into the time it would take.
    assert placed.technician == far
    rows = {row["technician"]: row for row in placed.assignment_explanation["candidates"]}
    assert "over-booked" in rows["近"]["reason"]
    assert WorkOrder.objects.get(pk=long_job.pk).technician == near
