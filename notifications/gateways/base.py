"""The gateway protocol and the errors that drive the outbox's retry decisions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a provider returned for an accepted message (Twilio ``SM…`` sid, Aliyun ``BizId``)."""

    provider_message_id: str


class SmsError(Exception):
    """A provider refused or could not take a message.

    ``code`` is the provider's own error code as text (Twilio ``"21610"``), when it gave one;
    later opt-out handling keys on it.
    """

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


class TransientSmsError(SmsError):
    """The provider certainly did not take the message and may later: retry with backoff."""


class PermanentSmsError(SmsError):
    """Retrying cannot help (invalid or opted-out number, bad credentials): never retry."""


class UnknownSmsOutcomeError(SmsError):
    """The request may have reached the provider (e.g. read timeout): never blind-resend.

    The outbox records the row as failed with an ``unknown:`` error; a later reconcile step
    (Twilio ``messages.list``, Aliyun ``QuerySendDetails``) can settle it.
    """


@runtime_checkable
class SmsGateway(Protocol):
    """One SMS provider. ``send`` is called once per attempt and must not retry on its own."""

    name: str

    def send(self, *, to: str, body: str) -> SendResult:
        """Hand ``body`` to the provider for ``to`` (E.164).

        Raises :class:`TransientSmsError`, :class:`PermanentSmsError` or
        :class:`UnknownSmsOutcomeError`; any other exception is treated as an unknown outcome.
        """
        ...
