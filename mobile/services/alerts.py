"""What changed in the job list since the last look, and how often to look.

``diff_jobs(old, new)`` compares two job lists from the server and returns the alerts
the technician must see: a new job, a job the office changed (its time by 15 minutes or more,
window, address, problem, status) and a job withdrawn from the list. ``PollSchedule`` spaces the
``If-None-Match`` polls: short after a change, doubling while nothing changes, capped.

Pure Python, no Kivy: tested on plain lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mobile.i18n import _

NEW = "new"
CHANGED = "changed"
WITHDRAWN = "withdrawn"

# What the office changes that a technician has to notice.
WATCHED_FIELDS = (
    "promised_start",
    "promised_end",
    "address",
    "problem",
    "status",
    "access_notes",
    "customer_phone",
)


# The planned arrival moves a little with every re-plan (another job ran over, one finished
# early): only a move this large is news worth a buzz.
ARRIVAL_SHIFT = timedelta(minutes=15)


def _arrival_moved(before: Any, after: Any) -> bool:
    if before == after:
        return False
    try:
        return abs(datetime.fromisoformat(str(after)) - datetime.fromisoformat(str(before))) >= ARRIVAL_SHIFT
    except (TypeError, ValueError):
        return True  # set, cleared or unreadable: say so


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # NEW / CHANGED / WITHDRAWN
    job_id: int
    reference: str
    fields: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        if self.kind == NEW:
            return _("New job {reference}").format(reference=self.reference)
        if self.kind == WITHDRAWN:
            return _("Job {reference} was withdrawn").format(reference=self.reference)
        return _("Job {reference} changed").format(reference=self.reference)


def diff_jobs(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]) -> list[Alert]:
    """Alerts for ``new`` compared with ``old`` (both server lists), in route order."""
    before = {int(j["id"]): j for j in old if isinstance(j, dict) and "id" in j}
    alerts: list[Alert] = []
    seen: set[int] = set()
    for job in new:
        job_id = int(job["id"])
        seen.add(job_id)
        reference = str(job.get("reference") or job_id)
        previous = before.get(job_id)
        if previous is None:
            alerts.append(Alert(NEW, job_id, reference))
            continue
        changed = tuple(f for f in WATCHED_FIELDS if previous.get(f) != job.get(f))
        if _arrival_moved(previous.get("planned_arrival"), job.get("planned_arrival")):
            changed = ("planned_arrival", *changed)
        if changed:
            alerts.append(Alert(CHANGED, job_id, reference, changed))
    for job_id, job in before.items():
        if job_id not in seen:
            alerts.append(Alert(WITHDRAWN, job_id, str(job.get("reference") or job_id)))
    return alerts


def merge_alerts(shown: list[Alert], incoming: list[Alert]) -> list[Alert]:
    """Alerts still waiting to be dismissed plus new ones; one per job (the newest)."""
    fresh = {a.job_id for a in incoming}
    return [a for a in shown if a.job_id not in fresh] + list(incoming)


class PollSchedule:
    """30 s, 60 s, 120 s ... up to 5 min while nothing changes; back to 30 s on a change,
    a resume or a tap."""

    def __init__(self, *, first: float = 30.0, factor: float = 2.0, maximum: float = 300.0) -> None:
        self.first, self.factor, self.maximum = first, factor, maximum
        self.interval = first

    def unchanged(self) -> float:
        """Nothing new: the next poll comes later. Returns the delay until it."""
        self.interval = min(self.interval * self.factor, self.maximum)
        return self.interval

    def reset(self) -> float:
        self.interval = self.first
        return self.interval


def banner_text(alerts: list[Alert]) -> str:
    """The banner: the oldest alert not dismissed, and how many more wait behind it."""
    if not alerts:
        return ""
    text = alerts[0].text
    if len(alerts) > 1:
        text += " " + _("(+{n} more)").format(n=len(alerts) - 1)
    return text
