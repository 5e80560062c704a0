"""The embedded default: print the message instead of sending it (the outbox row is the copy)."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from notifications.gateways.base import LookupResult, SendResult

if TYPE_CHECKING:
    from notifications.models import SmsMessage

logger = logging.getLogger(__name__)

# out_id → provider id of what this process printed. Another process's record is not visible,
# so a miss is "can't tell", not "no trace".
_printed: dict[str, str] = {}
_PRINTED_MAX = 10_000


class ConsoleGateway:
    name = "console"

    def send(
        self,
        *,
        to: str,
        body: str,
        kind: str = "",
        params: Mapping[str, str] | None = None,
        out_id: str = "",
    ) -> SendResult:
        provider_message_id = f"console-{uuid.uuid4().hex}"
        sys.stdout.write(f"SMS to {to}: {body}\n")
        sys.stdout.flush()
        logger.info("SMS to %s (%s): %s", to, provider_message_id, body)
        if out_id:
            if len(_printed) >= _PRINTED_MAX:
                _printed.clear()
            _printed[out_id] = provider_message_id
        return SendResult(provider_message_id=provider_message_id)

    def lookup(self, message: SmsMessage) -> LookupResult:
        provider_message_id = _printed.get(str(message.pk))
        if provider_message_id is None:
            return LookupResult(found=None)
        return LookupResult(found=True, provider_message_id=provider_message_id, status="sent")
