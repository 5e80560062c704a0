"""Re-plans off the request path: ``POST /api/scheduling/replan`` queues a job (202) that runs in
the background; ``GET /api/scheduling/replan/{id}`` follows it. The debounced re-plan after each
new order runs in the background too, once per debounce window."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerDown

from server.customers.models import Customer, Site
from server.scheduling import background, jobs, services
from server.scheduling.models import ReplanJob
from server.workorders.services import work_order_create
from tests import factories

URL = "/api/scheduling/replan"
AREAS = "900 jobs: solving 8 areas of 100-120 jobs on 2 lane(s)"


def post(client, body):
    return client.post(URL, body, content_type="application/json")


def wait_for_background(timeout: float = 30.0) -> None:
    for thread in threading.enumerate():
        if thread.name.startswith(background.THREAD_NAME_PREFIX):
            thread.join(timeout)
            assert not thread.is_alive(), f"{thread.name} still running after {timeout} s"


def summary(**extra):
    return services.ReplanSummary(
        orders=3,
        technicians=2,
        assigned=3,
        moved=1,
        unassigned={},
        travel_minutes_before=90,
        travel_minutes_after=70,
        violations=[],
        **extra,
    )


def seeded_day(n_orders: int) -> None:
    factories.technician(name="张伟", lat=31.23, lon=121.47)
    factories.technician(name="李强", lat=31.20, lon=121.52)
    for i in range(n_orders):
        customer = Customer.objects.create(name=f"c{i}", phone=f"+86138001390{i:02d}")
        site = Site.objects.create(
            customer=customer, address=f"addr {i}", latitude=31.18 + (i % 5) * 0.025, longitude=121.40 + (i // 5) * 0.03
        )
        work_order_create(
            customer=customer,
            site=site,
            problem=f"p{i}",
            required_skill=factories.skill("water_purifier"),
            service_minutes=30,
        )


@pytest.fixture
def staff_client(client):
    client.force_login(factories.staff(username="dispatcher-1"))
    return client


@pytest.mark.django_db(transaction=True)
def test_post_answers_202_at_once_and_the_solve_runs_in_a_background_thread(staff_client, settings, monkeypatch):
    settings.DISPATCH_BACKGROUND = "thread"
    started, release = threading.Event(), threading.Event()
    ran = {}

    def slow_replan(*, time_limit_s, progress):
        ran.update(thread=threading.current_thread(), time_limit_s=time_limit_s)
        progress("Planning 3 orders for 2 technicians")
        started.set()
        assert release.wait(20)
        progress("worker 0: objective 10")
        progress("worker 1: objective 9")
        return summary()

    monkeypatch.setattr(services, "day_replan", slow_replan)
    began = time.monotonic()
    response = post(staff_client, {"time_limit_s": 2})
    answered_in = time.monotonic() - began
    try:
        assert response.status_code == 202, response.content
        body = response.json()
        assert body["status"] == "queued"
        assert body["url"] == f"{URL}/{body['id']}"
        assert answered_in < 2.0  # the solve is still waiting for `release`: not in the request
        assert started.wait(10)
        running = staff_client.get(body["url"]).json()
        assert running["status"] == "running"
        assert running["result"] is None
        assert running["progress"] == ["Planning 3 orders for 2 technicians"]
        assert running["requested_by"] == "dispatcher-1"
        assert running["started_at"] is not None
    finally:
        release.set()
        wait_for_background()
    assert ran["thread"] is not threading.current_thread()
    assert ran["thread"].name.startswith(background.THREAD_NAME_PREFIX)
    assert ran["time_limit_s"] == 2
    done = staff_client.get(body["url"]).json()
    assert done["status"] == "done"
    assert done["error"] == ""
    assert done["finished_at"] is not None
    assert done["progress"][-1] == "worker 1: objective 9"
    assert done["result"]["assigned"] == 3
    assert done["result"]["workers"] == 2


@pytest.mark.django_db
def test_get_shows_progress_while_running_then_the_result(
    staff_client, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.DISPATCH_BACKGROUND = "inline"
    seen = []

    def fake_replan(*, time_limit_s, progress):
        progress("Planning 3 orders for 2 technicians")
        progress("worker 0: cost 12 after 0.1s")  # within 0.5 s of the first: not written yet
        seen.append(staff_client.get(f"{URL}/{ReplanJob.objects.get().pk}").json())
        progress(
            "second worker unavailable (daemonic processes are not allowed to have children); searching in-process only"
        )
        return summary(stale=["WO-000001: the order changed since the plan was made"], promises_at_risk=[])

    monkeypatch.setattr(services, "day_replan", fake_replan)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(staff_client, {"time_limit_s": 3.5})
    assert response.status_code == 202
    [running] = seen
    assert running["status"] == "running"
    assert running["time_limit_s"] == 3.5
    assert running["progress"] == ["Planning 3 orders for 2 technicians"]
    assert running["result"] is None
    done = staff_client.get(response.json()["url"]).json()
    assert done["status"] == "done"
    assert len(done["progress"]) == 3
    assert done["progress"][-1].startswith("second worker unavailable")
    assert done["result"] == {
        "orders": 3,
        "technicians": 2,
        "assigned": 3,
        "moved": 1,
        "unassigned": {},
        "travel_minutes_before": 90,
        "travel_minutes_after": 70,
        "violations": [],
        "stale": ["WO-000001: the order changed since the plan was made"],
        "promises_at_risk": [],
        "inconsistencies": [],
        "workers": 1,
    }


@pytest.mark.django_db
def test_a_real_replan_job_plans_the_day_and_counts_both_solver_processes(
    staff_client, settings, django_capture_on_commit_callbacks
):
    settings.DISPATCH_BACKGROUND = "inline"
    seeded_day(n_orders=16)  # over 12 jobs: the solver forks its second search
    with django_capture_on_commit_callbacks(execute=True):
        response = post(staff_client, {"time_limit_s": 2})
    job = staff_client.get(response.json()["url"]).json()
    assert job["status"] == "done", job["error"]
    assert job["result"]["orders"] == 16
    assert job["result"]["assigned"] == 16
    assert job["result"]["violations"] == []
    assert job["result"]["workers"] == 2
    assert any(line.startswith("worker 1: objective") for line in job["progress"])
    assert job["progress"][-1].startswith("Done: 16/16 assigned")


@pytest.mark.django_db
def test_a_failing_replan_marks_the_job_failed_with_the_error(
    staff_client, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.DISPATCH_BACKGROUND = "inline"

    def broken_replan(*, time_limit_s, progress):
        progress("Planning 3 orders for 2 technicians")
        raise RuntimeError("the routing service is down")

    monkeypatch.setattr(services, "day_replan", broken_replan)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(staff_client, {})
    assert response.status_code == 202
    job = staff_client.get(response.json()["url"]).json()
    assert job["status"] == "failed"
    assert job["result"] is None
    assert job["error"] == "RuntimeError: the routing service is down"
    assert job["progress"] == ["Planning 3 orders for 2 technicians"]
    assert job["finished_at"] is not None
    assert job["time_limit_s"] == settings.DISPATCH_REPLAN_SECONDS


@pytest.mark.django_db
def test_a_job_the_broker_cannot_take_is_marked_failed(
    staff_client, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.DISPATCH_BACKGROUND = "celery"
    from server.scheduling.tasks import replan_job_run as replan_job_run_task

    def broker_down(**kwargs):
        raise BrokerDown("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(replan_job_run_task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(staff_client, {"time_limit_s": 1})
    assert response.status_code == 202
    job = staff_client.get(response.json()["url"]).json()
    assert job["status"] == "failed"
    assert "Connection refused" in job["error"]


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [0, -5, 61, 3600, "soon"])
def test_a_bad_time_limit_is_refused_and_queues_nothing(staff_client, limit):
    response = post(staff_client, {"time_limit_s": limit})
    assert response.status_code == 422, response.content
    assert "time_limit_s" in response.json()["message"]
    assert not ReplanJob.objects.exists()


@pytest.mark.django_db
def test_an_infinite_time_limit_is_refused(staff_client):
    response = staff_client.post(URL, '{"time_limit_s": Infinity}', content_type="application/json")
    assert response.status_code == 422
    assert not ReplanJob.objects.exists()


@pytest.mark.django_db
def test_the_maximum_comes_from_the_settings(staff_client, settings):
    settings.DISPATCH_REPLAN_MAX_SECONDS = 10
    response = post(staff_client, {"time_limit_s": 11})
    assert response.status_code == 422
    message = response.json()["message"]
    assert message == "time_limit_s must be more than 0 and at most 10 seconds (got 11)"


@pytest.mark.django_db
@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-job"])
def test_an_unknown_job_is_404(staff_client, job_id):
    response = staff_client.get(f"{URL}/{job_id}")
    assert response.status_code == 404
    assert response.json()["message"] == f"No re-plan job {job_id}"


@pytest.mark.django_db
def test_re_plan_jobs_are_for_staff(client):
    job = ReplanJob.objects.create(time_limit_s=1)
    client.force_login(factories.technician(username="tech-x").user)
    assert post(client, {"time_limit_s": 1}).status_code == 403
    assert client.get(f"{URL}/{job.pk}").status_code == 403
    assert ReplanJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_debounced_replan_runs_once_after_the_window_in_a_thread(settings, monkeypatch):
    settings.DISPATCH_BACKGROUND = "thread"
    settings.DISPATCH_REPLAN_DEBOUNCE_SECONDS = 0.3
    runs = []

    def fake_replan(*, progress=None, **kwargs):
        runs.append((threading.current_thread(), time.monotonic()))
        return summary()

    monkeypatch.setattr(services, "day_replan", fake_replan)
    asked = time.monotonic()
    for _ in range(3):
        with transaction.atomic():
            services.replan_request()
    assert runs == []  # the countdown is honoured
    wait_for_background()
    assert len(runs) == 1
    thread, at = runs[0]
    assert thread is not threading.current_thread()
    assert at - asked >= 0.3


@pytest.mark.django_db
def test_a_replan_request_never_fails_its_caller(settings, monkeypatch, django_capture_on_commit_callbacks, caplog):
    settings.DISPATCH_BACKGROUND = "celery"
    from server.scheduling.tasks import replan as replan_task

    def cache_down(*args, **kwargs):
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    def broker_down(**kwargs):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(services.cache, "set", cache_down)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.replan_request()
    assert len(callbacks) == 1  # the cache is written after the commit, in the hook
    assert "the cache is unavailable" in caplog.text
    monkeypatch.undo()
    monkeypatch.setattr(replan_task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.replan_request()
    assert len(callbacks) == 1
    assert "Could not start server.scheduling.tasks.replan" in caplog.text


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["worker 0: cost 10 after 0.5s", "worker 0: objective 10"], 1),
        (["worker 0: objective 10", "worker 1: objective 9"], 2),
        (
            [
                "second worker unavailable (daemonic processes are not allowed to have children); "
                "searching in-process only",
                "worker 0: objective 10",
            ],
            1,
        ),
        ([AREAS, "area 0: worker 0: objective 3"], 2),
        ([AREAS, "second worker failed: RuntimeError()"], 1),
    ],
)
def test_solver_processes_are_counted_from_the_progress_lines(lines, expected):
    processes = jobs.SolverProcesses()
    for line in lines:
        processes(line)
    assert processes.count == expected


@pytest.mark.django_db
def test_jobs_are_listed_read_only_in_the_admin(admin_client):
    job = ReplanJob.objects.create(
        time_limit_s=5, requested_by="dispatcher-1", status=ReplanJob.Status.FAILED, error="RuntimeError: boom"
    )
    assert admin_client.get("/admin/scheduling/replanjob/").status_code == 200
    page = admin_client.get(f"/admin/scheduling/replanjob/{job.pk}/change/")
    assert page.status_code == 200
    assert b"RuntimeError: boom" in page.content
