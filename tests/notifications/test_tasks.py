import logging
from typing import Any

import pytest
from django.db import OperationalError

from notifications import services
from notifications.gateways import memory
from notifications.models import SmsMessage
from notifications.tasks import sms_redrive as sms_redrive_task
from notifications.tasks import sms_send as sms_send_task

pytestmark = pytest.mark.django_db

Status = SmsMessage.Status


def queued() -> SmsMessage:
    return SmsMessage.objects.create(to="+8613800138000", body="hi", kind="other", language="zh-CN", provider="memory")


def test_task_names_match_the_beat_schedule() -> None:
    assert sms_send_task.name == "notifications.tasks.sms_send"
    assert sms_redrive_task.name == "notifications.tasks.sms_redrive"


@pytest.mark.parametrize("positional", [True, False])
def test_send_task_calls_the_service(sms_outbox: list[memory.SentSms], positional: bool) -> None:
    message = queued()
    if positional:
        sms_send_task.delay(message.pk)
    else:
        sms_send_task.delay(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert len(sms_outbox) == 1


def test_send_task_for_a_deleted_row_is_a_no_op(
    sms_outbox: list[memory.SentSms], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="notifications.tasks"):
        result = sms_send_task.delay(message_id=987654)
    assert result.successful()
    assert "no longer exists" in caplog.text


def test_send_task_retries_database_errors_then_fails_the_row(
    sms_outbox: list[memory.SentSms], monkeypatch: pytest.MonkeyPatch
) -> None:
    message = queued()
    calls: list[int] = []

    def broken(*, message_id: int) -> SmsMessage:
        calls.append(message_id)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "sms_send", broken)
    sms_send_task.delay(message_id=message.pk)

    assert len(calls) == 1 + sms_send_task.max_retries
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert message.error.startswith("send task failed: OperationalError")
    assert sms_outbox == []


def test_send_task_does_not_retry_other_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def buggy(*, message_id: int) -> SmsMessage:
        calls.append(message_id)
        raise ValueError("bug")

    monkeypatch.setattr(services, "sms_send", buggy)
    sms_send_task.delay(message_id=queued().pk)
    assert len(calls) == 1


def test_redrive_task_calls_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    def fake(**kwargs: Any) -> int:
        seen.append(kwargs)
        return 3

    monkeypatch.setattr(services, "sms_redrive", fake)
    assert sms_redrive_task.delay().get() == 3
    assert seen == [{}]
