"""Work that runs after the current transaction commits, never inside the request.

``DISPATCH_BACKGROUND`` says how:

- ``celery``: the task is sent to the broker; ``CELERY_TASK_ROUTES`` picks its queue.
- ``thread``: a daemon thread of this process runs it ``countdown`` seconds after the commit.
  This is the embedded default (no broker), where Celery's eager mode would run the task inside
  the request that asked for it and ignore the countdown.
- ``inline``: it runs right after the commit in the caller's thread, without the countdown
  (tests and scripts that want the result at once).
- ``auto`` (the default): ``celery`` when a broker is configured (the task's Celery app is not
  eager), else ``thread``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import redis
from celery import Task
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

MODES = ("auto", "thread", "celery", "inline")
THREAD_NAME_PREFIX = "fixroute-background"

# What a cache or broker that is down raises (the Redis client's errors, kombu's, socket errors
# and timeouts, which are OSErrors): a background request that meets one is logged and dropped,
# never failing its caller.
SERVICE_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, BrokerError, OSError)

# Background threads of one process run one at a time, as the re-plan queue's single worker
# does: two re-plans at once would both rewrite the same routes.
_one_at_a_time = threading.Lock()

OnError = Callable[[BaseException], None] | None
# Runs after the commit, before the task is sent: more kwargs for the task, or None to send nothing.
Prepare = Callable[[], Mapping[str, Any] | None] | None


def background_mode(task: Task) -> str:
    """``thread``, ``celery`` or ``inline`` for ``task`` under the current settings."""
    mode = settings.DISPATCH_BACKGROUND
    if mode not in MODES:
        raise ImproperlyConfigured(f"DISPATCH_BACKGROUND={mode!r}; use one of {', '.join(MODES)}")
    if mode == "auto":
        return "thread" if task.app.conf.task_always_eager else "celery"
    return mode


def run_after_commit(
    task: Task,
    *,
    kwargs: Mapping[str, Any] | None = None,
    countdown: float = 0.0,
    on_error: OnError = None,
    prepare: Prepare = None,
) -> None:
    """Run ``task(**kwargs)`` once the current transaction commits (at once outside one).

    Never raises into the caller, whose transaction is committed by then, and never runs inside
    it: nothing here can roll back or hold up the caller's work (a phone call, a tap). An error is
    logged and handed to ``on_error`` (e.g. to mark a job failed). ``on_error`` hears of errors
    in ``prepare`` and sending the task to the broker, and in the thread and inline modes of the
    task raising. ``prepare`` (e.g. writing a debounce token to the cache) runs after the commit
    too: it returns more kwargs for the task, or ``None`` to send nothing.
    """
    payload = dict(kwargs or {})

    def start_after_commit() -> None:
        try:
            if prepare is not None:
                more = prepare()
                if more is None:
                    return
                payload.update(more)
            mode = background_mode(task)
            if mode == "celery":
                task.apply_async(kwargs=payload, countdown=countdown)
            elif mode == "thread":
                timer = threading.Timer(max(0.0, float(countdown)), _run_in_thread, args=(task, payload, on_error))
                timer.name = f"{THREAD_NAME_PREFIX} {task.name}"
                timer.daemon = True
                timer.start()
            else:
                _run(task, payload, on_error)
        except Exception as exc:
            logger.exception("Could not start %s in the background", task.name)
            _report(on_error, exc)

    # A named function: Django's robust path logs the hook's __qualname__ (a partial has none).
    transaction.on_commit(start_after_commit, robust=True)


def _run_in_thread(task: Task, kwargs: dict[str, Any], on_error: OnError) -> None:
    try:
        with _one_at_a_time:
            _run(task, kwargs, on_error)
    finally:
        # This thread's own connections: nobody else would ever close them.
        connections.close_all()


def _run(task: Task, kwargs: dict[str, Any], on_error: OnError) -> None:
    try:
        task(**kwargs)
    except Exception as exc:
        logger.exception("Background %s failed", task.name)
        _report(on_error, exc)


def _report(on_error: OnError, exc: BaseException) -> None:
    if on_error is None:
        return
    try:
        on_error(exc)
    except Exception:
        logger.exception("Could not record a background failure")
