"""Today's jobs in route order, with an offline notice and the pending-sync count."""

from __future__ import annotations

from datetime import date
from typing import Any

from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from mobile.screens import load_kv
from mobile.services.jobview import local_time, sync_status_text

load_kv(__file__)


class JobRow(ButtonBehavior, BoxLayout):
    """One job in the list (the RecycleView's viewclass; fields come from ``data``)."""

    job_id = NumericProperty(0)
    route_no = StringProperty("")
    arrival = StringProperty("")
    customer = StringProperty("")
    address = StringProperty("")
    reference = StringProperty("")
    status = StringProperty("")
    status_label = StringProperty("")
    note = StringProperty("")
    note_is_error = BooleanProperty(False)
    opener = ObjectProperty(None, allownone=True)

    def on_release(self) -> None:
        if self.opener is not None:
            self.opener(self.job_id)


class JobListScreen(Screen):
    board = ObjectProperty(None)  # mobile.job_board.JobBoard
    sync = ObjectProperty(None)  # mobile.sync.SyncEngine
    session = ObjectProperty(None)  # mobile.session.Session
    title = StringProperty("Today")
    subtitle = StringProperty("")
    notice = StringProperty("")
    empty_text = StringProperty("")
    pending_text = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.board.bind(
            jobs=self._show_jobs,
            day=self._show_title,
            offline=self._show_notice,
            updated_at=self._show_notice,
            loading=self._show_notice,
            loaded=self._show_notice,
            error=self._show_notice,
        )
        self.session.bind(technician_name=self._show_title)
        self.sync.bind(pending_count=self._show_pending, last_error=self._show_pending)
        self._show_jobs()
        self._show_title()
        self._show_notice()
        self._show_pending()

    # -- handlers called from kv ----------------------------------------------------

    def open_job(self, job_id: int) -> None:
        detail = self.manager.get_screen("job_detail")
        detail.show_job(job_id)
        self.manager.current = "job_detail"

    def refresh(self) -> None:
        self.board.refresh()
        self.sync.sync_now()

    def logout(self) -> None:
        self.session.logout()

    # -- for tests and drivers ------------------------------------------------------

    def rows(self) -> list[JobRow]:
        """The row widgets currently laid out, top to bottom."""
        container = self.ids.job_list.layout_manager
        return sorted((w for w in container.children if isinstance(w, JobRow)), key=lambda w: -w.y)

    # -- bindings -----------------------------------------------------------------------

    def _show_jobs(self, *_args: Any) -> None:
        self.ids.job_list.data = [self._row(job) for job in self.board.jobs]
        self._show_notice()

    def _row(self, job: dict[str, Any]) -> dict[str, Any]:
        note, is_error = "", False
        if job.get("_rejected"):
            note, is_error = f"Refused: {job['_rejected']}", True
        elif job.get("_unsynced"):
            note = "Waiting to sync"
        return {
            "job_id": job.get("id", 0),
            "route_no": str(job.get("route_position", "")),
            "arrival": local_time(job.get("planned_arrival")),
            "customer": job.get("customer_name") or "",
            "address": job.get("address") or "",
            "reference": " · ".join(p for p in (job.get("reference"), job.get("priority")) if p),
            "status": job.get("status") or "",
            "status_label": job.get("status_label") or job.get("status") or "",
            "note": note,
            "note_is_error": is_error,
            "opener": self.open_job,
        }

    def _show_title(self, *_args: Any) -> None:
        self.title = "Today"
        if self.board.day:
            try:
                self.title = "Today · " + date.fromisoformat(self.board.day).strftime("%a %d %b")
            except ValueError:
                self.title = f"Today · {self.board.day}"
        name = self.session.technician_name
        self.subtitle = f"{name} · {len(self.board.jobs)} job(s)" if name else ""

    def _show_notice(self, *_args: Any) -> None:
        board = self.board
        if board.offline:
            self.notice = (
                f"Offline — last updated {board.updated_at}"
                if board.loaded
                else "Offline — no job list on this phone yet."
            )
        elif board.error:
            self.notice = board.error
        else:
            self.notice = ""
        if board.jobs:
            self.empty_text = ""
        elif board.loading or not board.loaded:
            self.empty_text = "" if board.offline else "Loading today's jobs..."
        else:
            self.empty_text = "No jobs for today."
        self._show_title()

    def _show_pending(self, *_args: Any) -> None:
        self.pending_text = sync_status_text(self.sync.pending_count, self.sync.last_error)
