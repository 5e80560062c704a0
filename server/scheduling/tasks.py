"""Re-plan tasks. ``CELERY_TASK_ROUTES`` sends them all to ``CELERY_REPLAN_QUEUE``, whose worker
runs tasks in a non-daemonic process (``--pool threads``) so the solver can fork its second
search; in the embedded default ``server.scheduling.background`` runs them in a thread."""

from __future__ import annotations

import logging
import multiprocessing
from typing import Any

from celery import shared_task

from server.scheduling import jobs, services

logger = logging.getLogger(__name__)


def _warn_if_daemonic() -> None:
    if multiprocessing.current_process().daemon:
        logger.warning(
            "Re-planning in a daemonic process (a Celery prefork child?): the solver cannot fork "
            "its second search and uses one core. Serve the re-plan queue with --pool threads."
        )


@shared_task(name="server.scheduling.tasks.replan", acks_late=True)
def replan(*, token: str) -> dict[str, Any] | None:
    _warn_if_daemonic()
    processes = jobs.SolverProcesses()
    summary = services.replan_if_current(token=token, progress=processes)
    if summary is None:
        return None
    return jobs.replan_result(summary, workers=processes.count)


@shared_task(name="server.scheduling.tasks.replan_today")
def replan_today() -> dict[str, Any]:
    _warn_if_daemonic()
    processes = jobs.SolverProcesses()
    summary = services.day_replan(progress=processes)
    return jobs.replan_result(summary, workers=processes.count)


@shared_task(name="server.scheduling.tasks.replan_job_run", acks_late=True)
def replan_job_run(*, job_id: str) -> dict[str, Any] | None:
    _warn_if_daemonic()
    job = jobs.replan_job_run(job_id=job_id)
    if job is None:
        return None
    return {"id": str(job.pk), "status": job.status, "workers": (job.result or {}).get("workers")}
