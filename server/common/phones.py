"""Phone numbers: parsed with ``phonenumbers`` and stored as E.164."""

from __future__ import annotations

import phonenumbers
from django.conf import settings

from server.common.exceptions import ValidationFailed


class InvalidPhoneNumber(ValidationFailed):
    code = "invalid_phone"


def phone_to_e164(raw: str, *, region: str | None = None) -> str:
    """Return ``raw`` as E.164 or raise :class:`InvalidPhoneNumber` with a readable message."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("Phone number is empty", extra={"phone": raw})
    try:
        parsed = phonenumbers.parse(text, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"'{text}' is not a phone number ({exc._msg})", extra={"phone": raw}) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"'{text}' is not a valid phone number", extra={"phone": raw})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_to_e164_or_none(raw: str, *, region: str | None = None) -> str | None:
    """Like :func:`phone_to_e164` but ``None`` for withheld or malformed caller IDs."""
    try:
        return phone_to_e164(raw, region=region)
    except InvalidPhoneNumber:
        return None
