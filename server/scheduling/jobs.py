"""Re-plan jobs: a re-plan asked for through the API runs in the background and reports here.

``replan_job_create`` writes the row and hands the run to ``background`` after commit; the
run (``replan_job_run``, in a worker of the re-plan queue or a background thread) calls
``services.day_replan`` and stores its progress lines, its result or its error on the row.
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections import deque
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from server.common.exceptions import ValidationFailed
from server.scheduling import background, services
from server.scheduling.models import PROGRESS_KEEP, ReplanJob

logger = logging.getLogger(__name__)

# The solver reports many lines a second; the row is written at most this often (and always
# once at the end, with the last line).
PROGRESS_WRITE_EVERY_S = 0.5
PROGRESS_LINE_CHARS = 500

_LANES = re.compile(r"\bon (\d+) lane\(s\)")


class SolverProcesses:
    """Counts the solver processes that searched, from ``dispatch.solver``'s progress lines.

    The portfolio's second search runs in a forked process and reports ``worker 1: objective
    …`` when its plan comes back; where it cannot fork (a daemonic process, e.g. a Celery
    prefork child) the solver says ``second worker unavailable (…)`` and searches alone. Days
    solved by area report ``… on N lane(s)``, one process per lane, less any ``second worker …``
    failure.
    """

    def __init__(self) -> None:
        self.second_reported = False
        self.lanes = 1
        self.failures = 0

    def __call__(self, message: str) -> None:
        if message.startswith("worker 1: objective"):
            self.second_reported = True
        elif message.startswith("second worker "):
            self.failures += 1
        elif (lanes := _LANES.search(message)) is not None:
            self.lanes = int(lanes.group(1))

    @property
    def count(self) -> int:
        if self.lanes > 1:
            return max(1, self.lanes - self.failures)
        return 2 if self.second_reported else 1


class ProgressRecorder:
    """The ``progress`` callback of one job: keeps the newest lines and writes them to the row
    at most every ``PROGRESS_WRITE_EVERY_S``.

    Called from inside the solver's search, so a failed write is logged and never raised.
    """

    def __init__(self, *, job_id: uuid.UUID) -> None:
        self.job_id = job_id
        self.lines: deque[str] = deque(maxlen=PROGRESS_KEEP)
        self.processes = SolverProcesses()
        self._written_at: float | None = None

    def __call__(self, message: str) -> None:
        text = str(message)
        self.processes(text)
        self.lines.append(text[:PROGRESS_LINE_CHARS])
        now = time.monotonic()
        if self._written_at is None or now - self._written_at >= PROGRESS_WRITE_EVERY_S:
            self.flush()

    def flush(self) -> None:
        self._written_at = time.monotonic()
        try:
            # A savepoint when day_replan reports from inside its own transaction: a failed
            # write must not break that transaction.
            with transaction.atomic():
                ReplanJob.objects.filter(pk=self.job_id).update(progress=list(self.lines), updated_at=timezone.now())
        except DatabaseError:
            logger.warning("Could not save the progress of re-plan job %s", self.job_id, exc_info=True)


def replan_result(summary: services.ReplanSummary, *, workers: int) -> dict[str, Any]:
    """The JSON result of a re-plan: what it did, and how many solver processes searched.

    ``workers`` is what the solver's progress lines showed: it counts the processes that
    really searched, where a summary could only know how many were asked for.
    """
    fields = (
        "orders",
        "technicians",
        "assigned",
        "moved",
        "unassigned",
        "travel_minutes_before",
        "travel_minutes_after",
        "violations",
        "stale",
        "inconsistencies",
        "promises_at_risk",
    )
    return {**{name: getattr(summary, name) for name in fields}, "workers": workers}


def replan_job_create(*, requested_by: str, time_limit_s: float | None = None) -> ReplanJob:
    """Queue a re-plan of the day; it starts after commit, in the background.

    ``time_limit_s`` defaults to ``DISPATCH_REPLAN_SECONDS`` and may not exceed
    ``DISPATCH_REPLAN_MAX_SECONDS``.
    """
    from server.scheduling.tasks import replan_job_run as replan_job_run_task

    limit = settings.DISPATCH_REPLAN_SECONDS if time_limit_s is None else time_limit_s
    maximum = settings.DISPATCH_REPLAN_MAX_SECONDS
    if not (math.isfinite(limit) and 0 < limit <= maximum):
        raise ValidationFailed(
            f"time_limit_s must be more than 0 and at most {maximum:g} seconds (got {limit:g})",
            extra={"time_limit_s": limit, "max_time_limit_s": maximum},
        )
    with transaction.atomic():
        job = ReplanJob.objects.create(requested_by=requested_by[:150], time_limit_s=limit)
        job_id = job.pk

        def could_not_run(exc: BaseException) -> None:
            replan_job_fail(job_id=job_id, error=f"The re-plan could not run: {_error_text(exc)}")

        background.run_after_commit(replan_job_run_task, kwargs={"job_id": str(job_id)}, on_error=could_not_run)
    return job


def replan_job_run(*, job_id: uuid.UUID | str) -> ReplanJob | None:
    """Run a queued job: re-plan the day, saving progress as it comes, then the result or
    the error. ``None`` when the job is not queued (unknown, or already run)."""
    now = timezone.now()
    claimed = ReplanJob.objects.filter(pk=job_id, status=ReplanJob.Status.QUEUED).update(
        status=ReplanJob.Status.RUNNING, started_at=now, updated_at=now
    )
    if not claimed:
        # A late-acked message delivered again after its worker died: that run is lost.
        interrupted = ReplanJob.objects.filter(pk=job_id, status=ReplanJob.Status.RUNNING).update(
            status=ReplanJob.Status.FAILED,
            finished_at=now,
            updated_at=now,
            error="Interrupted: the process running this re-plan stopped",
        )
        logger.warning(
            "Re-plan job %s was not queued (%s); not run",
            job_id,
            "interrupted run marked failed" if interrupted else "unknown or finished",
        )
        return None
    job = ReplanJob.objects.get(pk=job_id)
    recorder = ProgressRecorder(job_id=job.pk)
    try:
        summary = services.day_replan(time_limit_s=job.time_limit_s, progress=recorder)
        result = replan_result(summary, workers=recorder.processes.count)
    except Exception as exc:
        logger.exception("Re-plan job %s failed", job.pk)
        return _finish(job, recorder, status=ReplanJob.Status.FAILED, error=_error_text(exc))
    return _finish(job, recorder, status=ReplanJob.Status.DONE, result=result)


def replan_job_fail(*, job_id: uuid.UUID | str, error: str) -> None:
    """Mark a job that has not finished as failed (e.g. its run could not be started)."""
    now = timezone.now()
    unfinished = [ReplanJob.Status.QUEUED, ReplanJob.Status.RUNNING]
    ReplanJob.objects.filter(pk=job_id, status__in=unfinished).update(
        status=ReplanJob.Status.FAILED, error=error, finished_at=now, updated_at=now
    )


def _finish(
    job: ReplanJob,
    recorder: ProgressRecorder,
    *,
    status: ReplanJob.Status,
    result: dict[str, Any] | None = None,
    error: str = "",
) -> ReplanJob:
    job.status, job.result, job.error = status, result, error
    job.progress = list(recorder.lines)
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "result", "error", "progress", "finished_at", "updated_at"])
    return job


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
