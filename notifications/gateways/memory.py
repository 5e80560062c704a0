"""An in-process gateway for tests: records what was sent and can be told to fail.

State is module-level so a test can inspect it after the outbox built its own gateway
instance; call :func:`reset` between tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from notifications.gateways.base import LookupResult, SendResult

if TYPE_CHECKING:
    from notifications.models import SmsMessage


@dataclass(frozen=True, slots=True)
class SentSms:
    to: str
    body: str
    provider_message_id: str
    kind: str = ""
    params: dict[str, str] = field(default_factory=dict)
    out_id: str = ""


sent: list[SentSms] = []
_failures: list[Exception] = []
_counter = 0
# What ``lookup`` answers when nothing was recorded: False ("no trace"), or None to play a
# provider that cannot tell.
lookup_missing: list[bool | None] = [False]


def reset() -> None:
    """Forget sent messages and pending failures."""
    sent.clear()
    _failures.clear()
    lookup_missing[:] = [False]


def deliver_then_fail(error: Exception) -> None:
    """The next send reaches the provider (recorded) and then raises ``error``: a worker that
    died or timed out after the provider took the message."""
    _failures.append(_DeliveredThen(error))


class _DeliveredThen(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def fail_next(error: Exception, *, times: int = 1) -> None:
    """Make the next ``times`` sends raise ``error`` (nothing is recorded for them)."""
    _failures.extend([error] * times)


class MemoryGateway:
    name = "memory"

    def send(
        self,
        *,
        to: str,
        body: str,
        kind: str = "",
        params: Mapping[str, str] | None = None,
        out_id: str = "",
    ) -> SendResult:
        global _counter
        failure = _failures.pop(0) if _failures else None
        if failure is not None and not isinstance(failure, _DeliveredThen):
            raise failure
        _counter += 1
        message = SentSms(
            to=to,
            body=body,
            provider_message_id=f"memory-{_counter}",
            kind=kind,
            params=dict(params or {}),
            out_id=out_id,
        )
        sent.append(message)
        if isinstance(failure, _DeliveredThen):
            raise failure.error
        return SendResult(provider_message_id=message.provider_message_id)

    def lookup(self, message: SmsMessage) -> LookupResult:
        for recorded in sent:
            if recorded.out_id == str(message.pk) and recorded.to == message.to:
                return LookupResult(found=True, provider_message_id=recorded.provider_message_id, status="sent")
        return LookupResult(found=lookup_missing[0])
