"""Database helpers shared by the services."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# PostgreSQL's "deadlock detected" and "could not serialize": the transaction was rolled back
# whole and may simply run again.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}


def _retryable(error: OperationalError) -> bool:
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) in _RETRYABLE_SQLSTATES or "database is locked" in str(error)


def retry_transaction(fn: Callable[P, R], *, attempts: int = 3) -> Callable[P, R]:
    """Run a whole transaction again when the database rolled it back for a deadlock.

    The lock order (technicians, then orders) makes deadlocks rare, but what a caller submits
    (a phone call, a repair) must never be lost to one. Only the outermost call retries: inside
    another transaction the error goes up to whoever owns it.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, attempts + 1):
            try:
                return fn(*args, **kwargs)
            except OperationalError as error:
                if connection.in_atomic_block or attempt == attempts or not _retryable(error):
                    raise
                logger.warning("%s: %s; running the transaction again (%d)", fn.__name__, error, attempt)
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    return wrapper
