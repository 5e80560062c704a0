"""Fixtures for the SMS outbox: the in-memory gateway and Celery tasks run in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from notifications.gateways import memory
from notifications.tasks import sms_send as sms_send_task


@pytest.fixture(autouse=True)
def eager_celery() -> Iterator[None]:
    """Run tasks in-process even when the environment has a REDIS_URL."""
    conf = sms_send_task.app.conf
    previous = conf.task_always_eager
    conf.task_always_eager = True
    yield
    conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def no_quiet_hours(settings: Any) -> None:
    """Tests run at any hour: quiet hours only where a test sets SMS_QUIET_HOURS itself."""
    settings.SMS_QUIET_HOURS = ""


@pytest.fixture
def sms_outbox(settings: Any) -> Iterator[list[memory.SentSms]]:
    """SMS_PROVIDER="memory"; yields the list of messages the gateway sent."""
    settings.SMS_PROVIDER = "memory"
    memory.reset()
    yield memory.sent
    memory.reset()
