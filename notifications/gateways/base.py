"""The gateway protocol and the errors that drive the outbox's retry decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from notifications.models import SmsMessage


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a provider returned for an accepted message (Twilio ``SM…`` sid, Aliyun ``BizId``)."""

    provider_message_id: str


@dataclass(frozen=True, slots=True)
class LookupResult:
    """What the provider's own record says about a message whose send outcome we don't know.

    ``found`` True: the provider has it (``provider_message_id``, its ``status``); False: the
    provider certainly has no trace (safe to send again); None: it can't tell (no record kept,
    the lookup failed): staff decide.
    """

    found: bool | None
    provider_message_id: str = ""
    status: str = ""


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

    The outbox marks the row UNKNOWN; ``notifications.reconcile`` later asks the provider
    (``lookup``: Twilio ``messages.list``, Aliyun ``QuerySendDetails``) before any resend.
    """


@runtime_checkable
class SmsGateway(Protocol):
    """One SMS provider. ``send`` is called once per attempt and must not retry on its own."""

    name: str

    def send(
        self,
        *,
        to: str,
        body: str,
        kind: str = "",
        params: Mapping[str, str] | None = None,
        out_id: str = "",
    ) -> SendResult:
        """Hand ``body`` to the provider for ``to`` (E.164).

        Template-based providers (Aliyun) send the approved template for ``kind`` with
        ``params`` instead of ``body``. ``out_id`` is our row id, echoed by providers that keep
        one (Aliyun ``OutId``) and used by ``lookup``.

        Raises :class:`TransientSmsError`, :class:`PermanentSmsError` or
        :class:`UnknownSmsOutcomeError`; any other exception is treated as an unknown outcome.
        """
        ...

    def lookup(self, message: SmsMessage) -> LookupResult:
        """Ask the provider whether it has ``message`` (sent with ``out_id=str(message.pk)``).

        Never raises for a provider or network error: answers ``LookupResult(found=None)``.
        """
        ...
