"""A re-plan asked for through the API goes through Redis to a real worker of the re-plan queue,
started as in production (``--pool threads``): the solver there forks its second search, so the
job's result says two solver processes ran (a prefork worker's daemonic children manage one)."""

from __future__ import annotations

import time
import uuid

import pytest
from django.conf import settings

from server.scheduling.models import ReplanJob
from tests import factories
from tests.integration.conftest import celery_worker, set_task_routes
from tests.server.test_replan_jobs import seeded_day

pytestmark = pytest.mark.django_db(transaction=True)


# What docker-compose.yml and the README run for the re-plan queue.
REPLAN_POOL = ("--pool", "threads", "--concurrency", "1")


@pytest.fixture(scope="module")
def replan_worker_process(real_services, django_db_setup, tmp_path_factory):
    """A ``celery worker`` for a re-plan queue of its own, run the way production runs it."""
    from server.config.celery_app import app

    queue = f"fixroute-replan-test-{uuid.uuid4().hex[:8]}"
    saved = (app.conf.task_routes, app.conf.task_always_eager)
    app.conf.task_always_eager = False
    set_task_routes(app, {name: {"queue": queue} for name in settings.CELERY_TASK_ROUTES})
    log = tmp_path_factory.mktemp("replan-worker") / "worker.log"
    try:
        with celery_worker(queue, pool=REPLAN_POOL, env={"CELERY_REPLAN_QUEUE": queue}, log=log) as process:
            yield {"process": process, "queue": queue, "log": log}
    finally:
        set_task_routes(app, saved[0])
        app.conf.task_always_eager = saved[1]


def test_a_replan_job_runs_on_the_replan_worker_with_both_solver_processes(replan_worker_process, client, settings):
    settings.DISPATCH_BACKGROUND = "celery"
    seeded_day(n_orders=20)  # over 12 jobs: the solver runs its two-process portfolio
    client.force_login(factories.staff())
    response = client.post("/api/scheduling/replan", {"time_limit_s": 3}, content_type="application/json")
    assert response.status_code == 202, response.content
    url = response.json()["url"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(url).json()
        if job["status"] in (ReplanJob.Status.DONE, ReplanJob.Status.FAILED):
            break
        time.sleep(0.2)
    else:
        log = replan_worker_process["log"].read_text()[-3000:]
        pytest.fail(f"the re-plan job is still {job['status']} after 60 s: {log}")
    assert job["status"] == "done", job["error"]
    assert job["result"]["orders"] == 20
    assert job["result"]["assigned"] == 20
    assert job["result"]["violations"] == []
    assert any(line.startswith("worker 1: objective") for line in job["progress"]), job["progress"]
    assert job["result"]["workers"] == 2
    log = replan_worker_process["log"].read_text()
    assert "server.scheduling.tasks.replan_job_run" in log
    assert "'workers': 2" in log
