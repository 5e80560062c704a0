"""Shapes shared by every API module: the one error answer and the input types every schema uses.

The input types refuse, with a 422, what would otherwise reach the database and fail there (a
500): NUL characters and lone surrogates that PostgreSQL and UTF-8 cannot store, integers past
a 64-bit column, UTC offsets PostgreSQL does not accept, and years whose conversion to UTC or
whose next day overflows. Numbers are never read as Unix times: a datetime is an ISO-8601
string with its UTC offset and a date is ``YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Annotated, Any

from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, Field
from pydantic import AwareDatetime as PydanticAwareDatetime
from pydantic.json_schema import JsonDict, JsonValue


class ErrorOut(Schema):
    """Every refused request: a message to show, a stable code to branch on, and details."""

    message: str
    code: str
    extra: dict[str, Any]


# 400: the body is not JSON; 413: it is over DATA_UPLOAD_MAX_MEMORY_SIZE; 422: it does not validate.
BODY_ERRORS = (400, 413, 422)


def errors(*codes: int) -> dict[int, type[ErrorOut]]:
    """The error answers an endpoint documents, all in the one shape.

    503 is always there: any request can meet the database restarting (see
    ``server.common.middleware``).
    """
    return dict.fromkeys(sorted({*codes, 503}), ErrorOut)


def allowed_values(values: Iterable[str]) -> JsonDict:
    """``json_schema_extra`` for a text field whose values a service checks: documents them as an enum."""
    allowed: list[JsonValue] = [*sorted(values)]
    return {"enum": allowed}


def _refuse_unstorable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    if any("\ud800" <= char <= "\udfff" for char in value):
        raise ValueError("must not contain lone surrogates (invalid UTF-16)")
    return value


# Text as the database can store it. Give the length with ``Field(max_length=...)`` where used,
# matching the model field it ends up in.
CleanText = Annotated[str, AfterValidator(_refuse_unstorable_text)]

# Primary keys are 64-bit; a larger number would fail in the database, not as a 404.
DbId = Annotated[int, Field(ge=1, le=2**63 - 1)]

# Dates and times this system plans for. Outside, arithmetic on them (a day later, to UTC) can
# overflow; no field-service job is booked in year 1 or 9999.
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2099, 12, 31)
# PostgreSQL refuses offsets beyond ±15:59 (and real ones stay within -12:00..+14:00).
MAX_UTC_OFFSET = dt.timedelta(hours=15, minutes=59)

_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_datetime_string(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATETIME.fullmatch(value):
        raise ValueError("must be an ISO-8601 date and time with a UTC offset, e.g. 2026-12-01T10:00:00+08:00")
    return value


def _datetime_in_range(value: dt.datetime) -> dt.datetime:
    offset = value.utcoffset()
    if offset is None or abs(offset) > MAX_UTC_OFFSET:
        raise ValueError("the UTC offset must be within ±15:59")
    if not EARLIEST <= value.date() <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}")
    return value


def _iso_date_string(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be an ISO-8601 date, YYYY-MM-DD")
    return value


def _date_in_range(value: dt.date) -> dt.date:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}")
    return value


AwareDatetime = Annotated[
    PydanticAwareDatetime, BeforeValidator(_iso_datetime_string), AfterValidator(_datetime_in_range)
]
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_string), AfterValidator(_date_in_range)]
