"""An in-process gateway for tests: records what was sent and can be told to fail.

State is module-level so a test can inspect it after the outbox built its own gateway
instance; call :func:`reset` between tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifications.gateways.base import SendResult


@dataclass(frozen=True, slots=True)
class SentSms:
    to: str
    body: str
    provider_message_id: str


sent: list[SentSms] = []
_failures: list[Exception] = []
_counter = 0


def reset() -> None:
    """Forget sent messages and pending failures."""
    sent.clear()
    _failures.clear()


def fail_next(error: Exception, *, times: int = 1) -> None:
    """Make the next ``times`` sends raise ``error`` (nothing is recorded for them)."""
    _failures.extend([error] * times)


class MemoryGateway:
    name = "memory"

    def send(self, *, to: str, body: str) -> SendResult:
        global _counter
        if _failures:
            raise _failures.pop(0)
        _counter += 1
        message = SentSms(to=to, body=body, provider_message_id=f"memory-{_counter}")
        sent.append(message)
        return SendResult(provider_message_id=message.provider_message_id)
