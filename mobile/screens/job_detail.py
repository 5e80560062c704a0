"""One job: customer (tap to call), address (navigate), access notes, equipment, the
problem, earlier visits, history, and the actions the server allows now.

Which buttons are enabled comes from the job's ``allowed_actions`` (server's answer, or
the optimistic overlay until it answers); this screen never decides that itself.
"Done" and "Could not complete" open the finish form; the others are queued at once.
Long texts go through ``ClippedText`` (cut, with "More").

Photos of this job that failed to upload are listed with the reason, and the technician
chooses: Retry (sent again from the start) or Remove. A photo that could not even be
queued when the finish form was submitted is reported here until dismissed.
"""

from __future__ import annotations

from typing import Any

from kivy.properties import ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from mobile.i18n import _
from mobile.screens import load_kv
from mobile.services.alerts import banner_text
from mobile.services.jobview import (
    arrival_text,
    equipment_text,
    history_text,
    priority_badge,
    site_visits_text,
    sync_line,
    window_text,
)

load_kv(__file__)

FORM_ACTIONS = ("done", "could_not_complete")  # these open the finish form first


class FailedPhotoRow(BoxLayout):
    """A photo of this job that could not be uploaded: why, and Retry / Remove."""

    screen = ObjectProperty(None)
    photo_id = NumericProperty(0)
    text = StringProperty("")


class JobDetailScreen(Screen):
    board = ObjectProperty(None)  # mobile.job_board.JobBoard
    sync = ObjectProperty(None)  # mobile.sync.SyncEngine
    actions = ObjectProperty(None)  # mobile.platform_actions.PlatformActions
    job_id = NumericProperty(0)
    reference = StringProperty("")
    status = StringProperty("")
    status_label = StringProperty("")
    summary = StringProperty("")
    window = StringProperty("")
    customer = StringProperty("")
    phone = StringProperty("")
    address = StringProperty("")
    access_notes = StringProperty("")
    problem = StringProperty("")
    equipment = StringProperty("")
    site_visits = StringProperty("")
    history = StringProperty("")
    allowed = ListProperty([])
    rejection = StringProperty("")
    pending_text = StringProperty("")
    alert = StringProperty("")
    message = StringProperty("")  # e.g. "Calling is not possible on this device: ..."
    photo_problem = StringProperty("")  # photos of this job that could not be queued, until dismissed

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._photo_problems: dict[int, str] = {}  # job id -> what the finish form could not queue
        self.board.bind(jobs=self._fill, alerts=self._show_alert, offline=self._show_pending)
        for name in ("pending_count", "last_error", "photo_count", "failed_photo_count", "rejected_count"):
            self.sync.bind(**{name: self._show_pending})
        self.sync.bind(failed_photo_count=self._show_failed_photos)
        self._show_pending()
        self._show_alert()

    def show_job(self, job_id: int) -> None:
        self.job_id = job_id
        self.message = ""
        self.photo_problem = self._photo_problems.get(job_id, "")
        self._fill()
        self._show_failed_photos()
        self.ids.scroll.scroll_y = 1

    def report_photo_problem(self, job_id: int, text: str) -> None:
        """Photos of ``job_id`` the finish form could not queue: said here until dismissed."""
        self._photo_problems[job_id] = text
        if job_id == self.job_id:
            self.photo_problem = text

    # -- handlers called from kv ----------------------------------------------------

    def act(self, action: str) -> None:
        if action not in self.allowed:  # a disabled button can still be dispatched
            return
        if action in FORM_ACTIONS:
            finish = self.manager.get_screen("finish")
            finish.open_form(self.job_id, action)
            self.manager.current = "finish"
            return
        self.sync.record(self.job_id, action)

    def call(self) -> None:
        if self.phone and not self.actions.dial(self.phone):
            self.message = _("Call {number} from your phone.").format(number=self.phone)

    def navigate(self) -> None:
        job = self.board.job(self.job_id) or {}
        lat, lon = job.get("latitude"), job.get("longitude")
        if lat is None or lon is None:
            self.message = _("No map position for this address.")
            return
        if not self.actions.navigate(float(lat), float(lon), self.address or self.customer):
            self.message = _("No map app found. Position: {lat}, {lon}").format(lat=lat, lon=lon)

    def dismiss_rejection(self) -> None:
        self.sync.dismiss_rejections(self.job_id)

    def dismiss_photo_problem(self) -> None:
        self._photo_problems.pop(self.job_id, None)
        self.photo_problem = ""

    def retry_photo(self, photo_id: int) -> None:
        self.sync.retry_photo(photo_id)

    def remove_photo(self, photo_id: int) -> None:
        self.sync.remove_photo(photo_id)

    def failed_photo_rows(self) -> list[FailedPhotoRow]:
        """The failed-photo rows shown, top to bottom (for tests and drivers)."""
        return list(reversed(self.ids.failed_photos_box.children))

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
        parts = [
            arrival_text(job),
            priority_badge(job.get("priority")),
            _("Complaint") if job.get("complaint") else "",
            _("waiting to sync") if job.get("_unsynced") else "",
        ]
        self.summary = " · ".join(p for p in parts if p)
        window = window_text(job.get("promised_start"), job.get("promised_end"))
        self.window = _("Promised {window}").format(window=window) if window else ""
        self.customer = job.get("customer_name") or ""
        self.phone = job.get("customer_phone") or ""
        self.address = job.get("address") or ""
        self.access_notes = job.get("access_notes") or ""
        self.problem = job.get("problem") or ""
        self.equipment = equipment_text(job.get("equipment"))
        self.site_visits = site_visits_text(job.get("site_visits") or [])
        self.history = history_text(job.get("history") or [])
        self.allowed = list(job.get("allowed_actions") or [])
        self.rejection = _("Not accepted: {reason}").format(reason=job["_rejected"]) if job.get("_rejected") else ""

    def _show_failed_photos(self, *_args: Any) -> None:
        box = self.ids.failed_photos_box
        box.clear_widgets()
        if not self.job_id:
            return
        for photo in self.sync.failed_photos(self.job_id):
            text = _("Photo {name} was not uploaded: {reason}").format(
                name=photo.filename, reason=photo.last_error or _("Photo upload failed.")
            )
            box.add_widget(FailedPhotoRow(screen=self, photo_id=photo.id, text=text))

    def _show_pending(self, *_args: Any) -> None:
        self.pending_text = sync_line(self.board, self.sync)

    def _show_alert(self, *_args: Any) -> None:
        self.alert = banner_text(self.board.alerts)
