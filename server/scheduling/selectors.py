from __future__ import annotations

import uuid

from server.common.exceptions import NotFound
from server.scheduling.models import ReplanJob


def replan_job_get(*, job_id: str | uuid.UUID) -> ReplanJob:
    """One re-plan job; ``NotFound`` for an unknown or malformed id."""
    try:
        key = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
        return ReplanJob.objects.get(pk=key)
    except (ValueError, ReplanJob.DoesNotExist):
        raise NotFound(f"No re-plan job {job_id}", extra={"id": str(job_id)}) from None
