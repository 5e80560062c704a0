"""Calls from one new number arriving together, through gunicorn on PostgreSQL: every call is
recorded and there is one customer (a unique-phone race was answered 500 and the call lost)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.customers.models import Customer
from server.intake.models import CallRecord
from tests import factories
from tests.integration.services import app_env, django_database_url, http_json, tail

TOKEN = "intake-concurrency-cti-token"
CALLS = 20
NEW_NUMBER = "+8613912345678"


@pytest.mark.django_db(transaction=True)
def test_twenty_calls_at_once_from_one_new_number_are_all_recorded_with_one_customer(
    real_services, gunicorn_server, tmp_path
):
    from django.conf import settings

    factories.technician()
    queue = f"fixroute-intake-{uuid.uuid4().hex[:8]}"
    env = app_env(
        database_url=django_database_url(),
        redis_url=settings.REDIS_URL,
        cti_token=TOKEN,
        queue=queue,
        replan_queue=queue,
    )
    log = tmp_path / "gunicorn.log"
    web = gunicorn_server(env=env, log=log, workers=4)

    def call(n: int):
        return http_json(
            web.url,
            "POST",
            "/webhooks/cti/call",
            {"call_id": f"same-new-number-{n}", "caller": NEW_NUMBER, "reason": "没有热水"},
            headers={"X-Fixroute-Token": TOKEN},
        )

    with ThreadPoolExecutor(max_workers=CALLS) as pool:
        answers = list(pool.map(call, range(CALLS)))
    failed = [str(answer) for answer in answers if not answer.ok]
    assert failed == [], tail(log, 6000)
    assert Customer.objects.filter(phone=NEW_NUMBER).count() == 1
    calls = CallRecord.objects.filter(caller_phone=NEW_NUMBER)
    assert calls.count() == CALLS
    assert not calls.filter(work_order__isnull=True).exists()
    # The first call made the order; the others joined it (one open order per customer).
    assert len({answer.body["work_order"]["id"] for answer in answers}) == 1
