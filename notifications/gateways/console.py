"""The embedded default: print the message instead of sending it (the outbox row is the copy)."""

from __future__ import annotations

import logging
import sys
import uuid

from notifications.gateways.base import SendResult

logger = logging.getLogger(__name__)


class ConsoleGateway:
    name = "console"

    def send(self, *, to: str, body: str) -> SendResult:
        provider_message_id = f"console-{uuid.uuid4().hex}"
        sys.stdout.write(f"SMS to {to}: {body}\n")
        sys.stdout.flush()
        logger.info("SMS to %s (%s): %s", to, provider_message_id, body)
        return SendResult(provider_message_id=provider_message_id)
