"""SMS faults on real parts: PostgreSQL, Redis and a Celery worker process sending through the real
Twilio gateway to a scripted fake Twilio (``fake_sms_provider``).

* the worker SIGKILLed while the provider holds the send open, after it recorded the message →
  the redrive marks the row unknown, the reconcile finds it at the provider: SENT, not re-sent;
* the same kill before the provider recorded anything → reconcile finds no trace, sends it once;
* 500 three times then 201 → one message at the provider, the row SENT after 4 attempts;
* HTTP 400 with Twilio code 21211 → FAILED with the code, listed for staff, never retried.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from notifications import selectors, services
from notifications.models import SmsMessage
from tests.integration.conftest import set_task_routes
from tests.integration.fake_sms_provider import (
    FakeTwilio,
    fail,
    hold_after_record,
    hold_before_record,
    point_twilio_at,
    twilio_env,
)
from tests.integration.fake_sms_provider import sms_worker as start_worker
from tests.integration.services import app_env, django_database_url, tail, wait_until

pytestmark = [pytest.mark.django_db(transaction=True)]

Status = SmsMessage.Status
TO = "+14155552671"


@contextlib.contextmanager
def logs_on_failure(*logs: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        for log in logs:
            sys.stdout.write(f"\n----- {log} (tail) -----\n{tail(log, 8000)}\n")
        raise


@pytest.fixture
def sms_queue_name(real_services: None) -> Iterator[str]:
    """A queue of this test's own; this process's Celery app sends the SMS tasks to it."""
    from server.config.celery_app import app

    queue = f"fixroute-sms-{uuid.uuid4().hex[:8]}"
    saved = (app.conf.task_default_queue, app.conf.task_always_eager, app.conf.task_routes)
    app.conf.task_default_queue = queue
    app.conf.task_always_eager = False
    set_task_routes(app, {name: {"queue": queue} for name in settings.CELERY_TASK_ROUTES})
    try:
        yield queue
    finally:
        app.conf.task_default_queue, app.conf.task_always_eager, routes = saved
        set_task_routes(app, routes)


@pytest.fixture
def fake_twilio(settings: Any) -> Iterator[FakeTwilio]:
    """The fake Twilio; this process's gateway (used by nothing but a direct lookup) points at it too."""
    with FakeTwilio() as provider:
        from notifications.gateways import twilio as twilio_gateway

        original = twilio_gateway.TwilioHttpClient
        point_twilio_at(provider.url)
        settings.SMS_PROVIDER = "twilio"
        try:
            yield provider
        finally:
            twilio_gateway.TwilioHttpClient = original  # type: ignore[misc]


def worker_env(queue: str, provider: FakeTwilio, **options: Any) -> dict[str, str]:
    return app_env(
        database_url=django_database_url(),
        redis_url=settings.REDIS_URL,
        cti_token="sms-faults",
        queue=queue,
        replan_queue=f"{queue}-replan",
        extra=twilio_env(provider, **options),
    )


def queue_sms(body: str) -> SmsMessage:
    """Queue a text as a status change does (the send is enqueued on commit)."""
    message = services.sms_queue(to=TO, body=body, kind="on_my_way", language="en", visit_key=uuid.uuid4().hex)
    assert message.status == Status.QUEUED, message.error
    assert message.provider == "twilio"
    return message


def status_of(message: SmsMessage) -> str:
    message.refresh_from_db()
    return str(message.status)


def kill_mid_send(
    tmp_path: Path, queue: str, provider: FakeTwilio, body: str, *, recorded: bool
) -> tuple[SmsMessage, Path]:
    """Queue one SMS, SIGKILL the worker while the provider holds its request; return the row."""
    provider.then(hold_after_record() if recorded else hold_before_record())
    log = tmp_path / "worker-1.log"
    with (
        logs_on_failure(log),
        start_worker(settings.REDIS_URL, queues=queue, name=queue, env=worker_env(queue, provider), log=log) as worker,
    ):
        message = queue_sms(body)
        wait_until(lambda: provider.holding == 1, timeout=30, what="the provider to hold the send")
        assert status_of(message) == Status.SENDING
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    provider.release()
    assert status_of(message) == Status.SENDING  # what a killed worker leaves behind
    return message, log


def recover(tmp_path: Path, queue: str, provider: FakeTwilio, message: SmsMessage) -> None:
    """Start a new worker and run the redrive as beat would, ten minutes and more later."""
    log = tmp_path / "worker-2.log"
    with (
        logs_on_failure(log),
        start_worker(settings.REDIS_URL, queues=queue, name=f"{queue}-2", env=worker_env(queue, provider), log=log),
    ):
        services.sms_redrive(now=timezone.now() + services.SENDING_TIMEOUT + timedelta(minutes=1))
        wait_until(lambda: status_of(message) == Status.SENT, timeout=30, what=f"SMS {message.pk} to be SENT")


def test_worker_killed_after_the_provider_took_the_sms_is_reconciled_not_resent(
    sms_queue_name: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    body = f"[Fixroute] on my way {uuid.uuid4().hex[:8]}"
    message, _ = kill_mid_send(tmp_path, sms_queue_name, fake_twilio, body, recorded=True)
    assert fake_twilio.count(body) == 1

    recover(tmp_path, sms_queue_name, fake_twilio, message)

    message.refresh_from_db()
    assert fake_twilio.count(body) == 1  # found in the provider's list, not sent again
    assert fake_twilio.posts == 1
    assert message.provider_message_id == fake_twilio.accepted[0].sid
    assert message.resent is False
    assert message.attempts == 1
    assert selectors.sms_unknown().count() == 0


def test_worker_killed_before_the_provider_got_the_sms_is_sent_again_once(
    sms_queue_name: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    body = f"[Fixroute] on my way {uuid.uuid4().hex[:8]}"
    message, _ = kill_mid_send(tmp_path, sms_queue_name, fake_twilio, body, recorded=False)
    assert fake_twilio.count(body) == 0

    recover(tmp_path, sms_queue_name, fake_twilio, message)

    message.refresh_from_db()
    assert fake_twilio.count(body) == 1
    assert fake_twilio.posts == 2  # the held one, then the single resend
    assert message.provider_message_id == fake_twilio.accepted[0].sid
    assert message.resent is True
    assert message.attempts == 2
    # Another redrive and reconcile change nothing.
    services.sms_redrive(now=timezone.now() + timedelta(hours=1))
    assert services.sms_reconcile(message_id=message.pk).status == Status.SENT
    assert fake_twilio.count(body) == 1


def test_provider_500_three_times_then_accepts_one_sms_after_four_attempts(
    sms_queue_name: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    fake_twilio.then(fail(), fail(), fail())
    body = f"[Fixroute] arrived {uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    # Backoff scaled to 0.5 s, 1 s, 2 s (10 s, 20 s, 40 s in production) to keep the test short.
    env = worker_env(sms_queue_name, fake_twilio, retry_base_s=0.5)
    with (
        logs_on_failure(log),
        start_worker(settings.REDIS_URL, queues=sms_queue_name, name=sms_queue_name, env=env, log=log),
    ):
        message = queue_sms(body)
        wait_until(lambda: status_of(message) == Status.SENT, timeout=45, what=f"SMS {message.pk} to be SENT")
    message.refresh_from_db()
    assert fake_twilio.posts == 4
    assert fake_twilio.count(body) == 1
    assert message.attempts == 4  # three refused attempts and the one that went through
    assert message.provider_message_id == fake_twilio.accepted[0].sid
    assert message.error == ""


def test_permanent_provider_error_fails_the_sms_visibly_and_never_retries(
    sms_queue_name: str, fake_twilio: FakeTwilio, tmp_path: Path, admin_client: Any
) -> None:
    fake_twilio.then(fail(status=400, code=21211, message="The 'To' number +14155552671 is not a valid phone number."))
    body = f"[Fixroute] booked {uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    env = worker_env(sms_queue_name, fake_twilio, retry_base_s=0.5)
    with (
        logs_on_failure(log),
        start_worker(settings.REDIS_URL, queues=sms_queue_name, name=sms_queue_name, env=env, log=log),
    ):
        message = queue_sms(body)
        wait_until(lambda: status_of(message) == Status.FAILED, timeout=30, what=f"SMS {message.pk} to be FAILED")
        # A sweep an hour later re-enqueues nothing: a failed row is never retried.
        assert services.sms_redrive(now=timezone.now() + timedelta(hours=1)) == 0
        assert services.sms_send(message_id=message.pk).status == Status.FAILED
    message.refresh_from_db()
    assert fake_twilio.posts == 1
    assert fake_twilio.accepted == []
    assert message.attempts == 1
    assert "21211" in message.error
    # Visible to staff: in the outbox list and under the admin's "failed" filter.
    assert [m.pk for m in selectors.sms_list() if m.status == Status.FAILED] == [message.pk]
    page = admin_client.get("/admin/notifications/smsmessage/", {"status__exact": Status.FAILED})
    assert page.status_code == 200
    assert f"/admin/notifications/smsmessage/{message.pk}/change/" in page.content.decode()
