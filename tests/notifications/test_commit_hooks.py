"""With the broker down, what commits answers normally and the transaction's later hooks still run.

These tests commit for real (``transaction=True``): Django runs a robust ``on_commit`` hook inside
``try``, and logs a failure with the hook's ``__qualname__``; a hook without one (a
``functools.partial``) turned a broker outage into an AttributeError that skipped later hooks and
answered 500 for work already committed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from notifications import services
from notifications.gateways import TransientSmsError, memory
from notifications.models import SmsMessage
from notifications.tasks import sms_send as sms_send_task

pytestmark = pytest.mark.django_db(transaction=True)

Status = SmsMessage.Status


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch, settings: Any) -> list[dict[str, Any]]:
    """Sending the SMS task fails as kombu does when Redis refuses; yields the attempts."""
    settings.SMS_PROVIDER = "memory"
    memory.reset()
    attempts: list[dict[str, Any]] = []

    def apply_async(args: Any = None, kwargs: Any = None, **options: Any) -> None:
        attempts.append(dict(kwargs or {}))
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(sms_send_task, "apply_async", apply_async)
    return attempts


def queue(**overrides: Any) -> SmsMessage:
    values: dict[str, Any] = {
        "to": "+8613800138000",
        "body": "【品牌】您的工程师张师傅已出发，预计40分钟后到达",
        "kind": "on_my_way",
        "language": "zh-CN",
    }
    return services.sms_queue(**(values | overrides))


def test_sms_queue_commits_and_later_hooks_run_with_the_broker_down(
    broker_down: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    later: list[str] = []
    with transaction.atomic():
        message = queue()
        second = queue(to="+8613800138001")
        transaction.on_commit(lambda: later.append("ran"))
    assert later == ["ran"]
    assert [attempt["message_id"] for attempt in broker_down] == [message.pk, second.pk]
    assert set(SmsMessage.objects.values_list("status", flat=True)) == {Status.QUEUED}  # redrive sends them
    assert f"SMS {message.pk} not enqueued" in caplog.text


def test_sms_queue_outside_a_transaction_returns_normally_with_the_broker_down(
    broker_down: list[dict[str, Any]],
) -> None:
    message = queue()
    assert len(broker_down) == 1
    assert SmsMessage.objects.get().pk == message.pk


def test_redrive_tries_every_row_with_the_broker_down(broker_down: list[dict[str, Any]]) -> None:
    old = timezone.now() - dt.timedelta(minutes=5)
    rows = SmsMessage.objects.bulk_create(
        [
            SmsMessage(to="+8613800138000", body="a", kind="on_my_way", language="zh-CN", provider="memory"),
            SmsMessage(to="+8613800138001", body="b", kind="on_my_way", language="zh-CN", provider="memory"),
        ]
    )
    SmsMessage.objects.update(created_at=old)
    assert services.sms_redrive() == 2
    assert sorted(attempt["message_id"] for attempt in broker_down) == sorted(row.pk for row in rows)


def test_a_transient_failure_is_kept_for_redrive_with_the_broker_down(broker_down: list[dict[str, Any]]) -> None:
    message = SmsMessage.objects.create(
        to="+8613800138000", body="a", kind="on_my_way", language="zh-CN", provider="memory"
    )
    memory.fail_next(TransientSmsError("Twilio HTTP 503: busy"))
    result = services.sms_send(message_id=message.pk)  # the 10 s retry kick meets the broker down
    assert result.status == Status.QUEUED
    assert broker_down == [{"message_id": message.pk}]
    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.not_before is not None


def test_a_technician_tap_answers_200_with_the_broker_down(client: Any, broker_down: list[dict[str, Any]]) -> None:
    from server.intake.services import work_order_create_and_dispatch
    from server.workorders.models import Status as OrderStatus
    from server.workorders.models import WorkOrder
    from tests import factories

    technician = factories.technician(name="张伟", username="zhang", lat=31.2300, lon=121.4600)
    customer = factories.customer()
    site = customer.sites.get()
    order = work_order_create_and_dispatch(
        customer=customer, site=site, equipment=site.equipment.get(), problem="漏水",
        required_skill=factories.skill("water_purifier"),
    )  # fmt: skip
    assert order.technician == technician
    token = client.post(
        "/api/auth/token", {"username": "zhang", "password": "pw-123456"}, content_type="application/json"
    ).json()["token"]
    body = {
        "client_event_id": uuid.uuid4().hex,
        "work_order_id": order.pk,
        "action": "on_my_way",
        "device_time": timezone.now().isoformat(),
        "latitude": 31.24,
        "longitude": 121.47,
    }
    response = client.post(
        "/api/mobile/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200, response.content
    assert response.json()["job"]["status"] == "en_route"
    assert WorkOrder.objects.get(pk=order.pk).status == OrderStatus.EN_ROUTE
    sms = SmsMessage.objects.get(work_order_id=order.pk, kind="on_my_way")
    assert sms.status == Status.QUEUED
    assert sms.pk in [attempt["message_id"] for attempt in broker_down]
