"""Today: the jobs in route order (window, arrival or live ETA, address, badges, status),
alerts for what the office changed, and the sync state line."""

from __future__ import annotations

from datetime import date
from typing import Any

from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import Screen

from mobile.i18n import _, format_day
from mobile.screens import load_kv
from mobile.services.alerts import banner_text
from mobile.services.jobview import (
    arrival_text,
    local_time,
    others_waiting_text,
    priority_badge,
    sync_line,
    window_text,
)

load_kv(__file__)


class JobRow(ButtonBehavior, BoxLayout):
    """One job in the list (the RecycleView's viewclass; fields come from ``data``)."""

    job_id = NumericProperty(0)
    route_no = StringProperty("")
    arrival = StringProperty("")  # HH:MM: live ETA start while en route, else planned
    arrival_caption = StringProperty("")  # "ETA" / "Planned"
    window = StringProperty("")  # "Promised 08:00–10:00"
    customer = StringProperty("")
    address = StringProperty("")
    reference = StringProperty("")
    status = StringProperty("")
    status_label = StringProperty("")
    priority = StringProperty("")  # badge text ('' for low/normal)
    priority_level = StringProperty("")
    complaint = StringProperty("")  # badge text ('' if not a complaint)
    note = StringProperty("")
    note_is_error = BooleanProperty(False)
    opener = ObjectProperty(None, allownone=True)

    def on_release(self) -> None:
        if self.opener is not None:
            self.opener(self.job_id)


class LogoutPopup(Popup):
    """Unsent changes on log out: keep them for the next login, discard them, or stay."""

    message = StringProperty("")
    screen = ObjectProperty(None)


class JobListScreen(Screen):
    board = ObjectProperty(None)  # mobile.job_board.JobBoard
    sync = ObjectProperty(None)  # mobile.sync.SyncEngine
    session = ObjectProperty(None)  # mobile.session.Session
    title = StringProperty("")
    subtitle = StringProperty("")
    notice = StringProperty("")
    empty_text = StringProperty("")
    pending_text = StringProperty("")
    others_text = StringProperty("")  # another technician's unsent changes, waiting for them
    alert = StringProperty("")
    logout_popup = ObjectProperty(None, allownone=True)

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
            alerts=self._show_alert,
        )
        self.session.bind(technician_name=self._show_title)
        for name in ("pending_count", "last_error", "photo_count", "failed_photo_count", "rejected_count"):
            self.sync.bind(**{name: self._show_pending})
        self.sync.bind(others_waiting=self._show_others)
        self.board.bind(offline=self._show_pending)
        self._show_jobs()
        self._show_title()
        self._show_notice()
        self._show_pending()
        self._show_others()
        self._show_alert()

    # -- handlers called from kv ----------------------------------------------------

    def open_job(self, job_id: int) -> None:
        detail = self.manager.get_screen("job_detail")
        detail.show_job(job_id)
        self.manager.current = "job_detail"

    def refresh(self) -> None:
        self.board.refresh()
        self.sync.sync_now()

    def logout(self) -> None:
        """Log out at once when everything is sent; otherwise ask what to do with the rest
        (this technician's only: another's changes on the phone are not theirs to discard)."""
        waiting = self.sync.pending_count + self.sync.photo_count + self.sync.failed_photo_count
        if not waiting:
            self._app().log_out(discard=False)
            return
        self.logout_popup = LogoutPopup(
            title=_("Log out"),
            message=_(
                "{n} change(s) on this phone are not sent yet. Keep them to send after the next login, or discard them?"
            ).format(n=waiting),
            screen=self,
        )
        self.logout_popup.open()

    def confirm_logout(self, *, discard: bool) -> None:
        self.close_logout_popup()
        self._app().log_out(discard=discard)

    def close_logout_popup(self) -> None:
        if self.logout_popup is not None:
            self.logout_popup.dismiss(animation=False)
            self.logout_popup = None

    def _app(self) -> Any:
        from kivy.app import App

        return App.get_running_app()

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
            note, is_error = _("Refused: {reason}").format(reason=job["_rejected"]), True
        elif job.get("_unsynced"):
            note = _("Waiting to sync")
        eta = local_time(job.get("eta_start"))
        window = window_text(job.get("promised_start"), job.get("promised_end"))
        return {
            "job_id": job.get("id", 0),
            "route_no": str(job.get("route_position", "")),
            "arrival": eta or local_time(job.get("planned_arrival")),
            "arrival_caption": _("ETA") if eta else _("Planned"),
            "window": _("Promised {window}").format(window=window) if window else arrival_text(job),
            "customer": job.get("customer_name") or "",
            "address": job.get("address") or "",
            "reference": job.get("reference") or "",
            "status": job.get("status") or "",
            "status_label": job.get("status_label") or job.get("status") or "",
            "priority": priority_badge(job.get("priority")),
            "priority_level": job.get("priority") or "",
            "complaint": _("Complaint") if job.get("complaint") else "",
            "note": note,
            "note_is_error": is_error,
            "opener": self.open_job,
        }

    def _show_title(self, *_args: Any) -> None:
        self.title = _("Today")
        if self.board.day:
            try:
                self.title = _("Today") + " · " + format_day(date.fromisoformat(self.board.day))
            except ValueError:
                self.title = _("Today") + f" · {self.board.day}"
        name = self.session.technician_name
        self.subtitle = _("{name} · {n} job(s)").format(name=name, n=len(self.board.jobs)) if name else ""

    def _show_notice(self, *_args: Any) -> None:
        board = self.board
        if board.offline:
            self.notice = (
                _("Offline — last updated {time}").format(time=board.updated_at)
                if board.loaded
                else _("Offline — no job list on this phone yet.")
            )
        elif board.error:
            self.notice = board.error
        else:
            self.notice = ""
        if board.jobs:
            self.empty_text = ""
        elif board.loading or not board.loaded:
            self.empty_text = "" if board.offline else _("Loading today's jobs...")
        else:
            self.empty_text = _("No jobs for today.")
        self._show_title()

    def _show_pending(self, *_args: Any) -> None:
        self.pending_text = sync_line(self.board, self.sync)

    def _show_others(self, *_args: Any) -> None:
        self.others_text = others_waiting_text(self.sync.others_waiting)

    def _show_alert(self, *_args: Any) -> None:
        self.alert = banner_text(self.board.alerts)
