"""One job: customer, problem, equipment, history, and the three action buttons.

Which buttons are enabled comes from the job's ``allowed_actions`` (server's answer, or
the optimistic overlay until it answers); this screen never decides that itself.
"""

from __future__ import annotations

from typing import Any

from kivy.properties import ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.screenmanager import Screen

from mobile.screens import load_kv
from mobile.services.jobview import (
    equipment_text,
    history_text,
    local_time,
    sync_status_text,
)

load_kv(__file__)


class JobDetailScreen(Screen):
    board = ObjectProperty(None)  # mobile.job_board.JobBoard
    sync = ObjectProperty(None)  # mobile.sync.SyncEngine
    job_id = NumericProperty(0)
    reference = StringProperty("")
    status = StringProperty("")
    status_label = StringProperty("")
    summary = StringProperty("")
    customer = StringProperty("")
    phone = StringProperty("")
    address = StringProperty("")
    problem = StringProperty("")
    equipment = StringProperty("")
    history = StringProperty("")
    allowed = ListProperty([])
    rejection = StringProperty("")
    pending_text = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.board.bind(jobs=self._fill)
        self.sync.bind(pending_count=self._show_pending, last_error=self._show_pending)
        self._show_pending()

    def show_job(self, job_id: int) -> None:
        self.job_id = job_id
        self._fill()
        self.ids.scroll.scroll_y = 1

    # -- handlers called from kv ----------------------------------------------------

    def act(self, action: str) -> None:
        if action in self.allowed:  # a disabled button can still be dispatched
            self.sync.record(self.job_id, action)

    def dismiss_rejection(self) -> None:
        self.sync.dismiss_rejections(self.job_id)

    def back(self) -> None:
        self.manager.current = "jobs"

    # -- bindings -----------------------------------------------------------------------

    def _fill(self, *_args: Any) -> None:
        job = self.board.job(self.job_id)
        if job is None:
            self.allowed = []
            return
        self.reference = job.get("reference") or ""
        self.status = job.get("status") or ""
        self.status_label = job.get("status_label") or self.status
        arrival = local_time(job.get("planned_arrival"))
        parts = [
            f"ETA {arrival}" if arrival else "",
            job.get("priority") or "",
            "waiting to sync" if job.get("_unsynced") else "",
        ]
        self.summary = " · ".join(p for p in parts if p)
        self.customer = job.get("customer_name") or ""
        self.phone = job.get("customer_phone") or ""
        self.address = job.get("address") or ""
        self.problem = job.get("problem") or ""
        self.equipment = equipment_text(job.get("equipment"))
        self.history = history_text(job.get("history") or [])
        self.allowed = list(job.get("allowed_actions") or [])
        self.rejection = f"Not accepted: {job['_rejected']}" if job.get("_rejected") else ""

    def _show_pending(self, *_args: Any) -> None:
        self.pending_text = sync_status_text(self.sync.pending_count, self.sync.last_error)
