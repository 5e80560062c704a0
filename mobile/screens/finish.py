"""Finish a job: "Done" (resolution, parts used, photos) or "Could not complete" (reason
and an optional note).

The form is saved as a draft on the phone while it is being filled in (every change),
so it survives the app being closed or killed; submitting queues ONE event in the outbox
(with the resolution and parts, or the reason and note) and queues the photos, which
upload in the background after the event. Then the draft is dropped.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from kivy.clock import Clock
from kivy.properties import ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import Screen
from kivy.utils import platform

from mobile.i18n import _
from mobile.screens import load_kv
from mobile.services.jobview import REASONS
from mobile.services.photos import PhotoError, describe_file

load_kv(__file__)

MAX_RESOLUTION = 4000
MAX_NOTE = 1000
MAX_PARTS = 50
MAX_PART_NAME = 120


def camera_file_name(job_id: int) -> str:
    """A camera shot's file name, never the same twice (``job7-3f2a...e9.jpg``)."""
    return f"job{int(job_id)}-{uuid.uuid4().hex}.jpg"


class PartRow(BoxLayout):
    screen = ObjectProperty(None)
    part_name = StringProperty("")
    quantity = StringProperty("1")


class PhotoRow(BoxLayout):
    screen = ObjectProperty(None)
    path = StringProperty("")


class PhotoChooser(Popup):
    """Desktop: pick a photo file."""

    screen = ObjectProperty(None)
    start_path = StringProperty("")


class FinishScreen(Screen):
    board = ObjectProperty(None)  # mobile.job_board.JobBoard
    sync = ObjectProperty(None)  # mobile.sync.SyncEngine
    store = ObjectProperty(None)  # mobile.services.store.DeviceStore
    job_id = NumericProperty(0)
    mode = StringProperty("done")  # "done" or "could_not_complete"
    reference = StringProperty("")
    reason = StringProperty("")
    error = StringProperty("")
    photos = ListProperty([])  # local paths picked, not queued yet
    chooser = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._loading = False
        self._save_trigger = Clock.create_trigger(lambda _dt: self.save_draft(), 0.3)

    # -- opening and the draft ------------------------------------------------------------

    @property
    def draft_key(self) -> str:
        return f"{self.job_id}:{self.mode}"

    def open_form(self, job_id: int, mode: str) -> None:
        self._loading = True
        self.job_id = job_id
        self.mode = mode
        job = self.board.job(job_id) or {}
        self.reference = job.get("reference") or ""
        self.error = ""
        draft = self.store.load_draft(self.draft_key) or {}
        self.ids.resolution.text = str(draft.get("resolution") or "")
        self.ids.note.text = str(draft.get("note") or "")
        self.reason = str(draft.get("reason") or "")
        self.ids.parts_box.clear_widgets()
        for name, quantity in draft.get("parts") or []:
            self._add_part_row(str(name), str(quantity))
        self.photos = [p for p in draft.get("photos") or [] if isinstance(p, str)]
        self._show_photos()
        self._loading = False

    def draft(self) -> dict[str, Any]:
        return {
            "resolution": self.ids.resolution.text,
            "parts": [[row.ids.name.text, row.ids.quantity.text] for row in self.part_rows()],
            "photos": list(self.photos),
            "reason": self.reason,
            "note": self.ids.note.text,
        }

    def changed(self) -> None:
        """Any field changed: save the draft shortly (merges a burst of keystrokes)."""
        if not self._loading and self.job_id:
            self._save_trigger()

    def save_draft(self) -> None:
        if self.job_id:
            self.store.save_draft(self.draft_key, self.draft())

    def on_leave(self, *_args: Any) -> None:
        if self.job_id:
            self.save_draft()

    # -- parts -------------------------------------------------------------------------

    def part_rows(self) -> list[PartRow]:
        return list(reversed(self.ids.parts_box.children))

    def add_part(self) -> None:
        if len(self.part_rows()) >= MAX_PARTS:
            self.error = _("At most {n} parts.").format(n=MAX_PARTS)
            return
        self._add_part_row("", "1")
        self.changed()

    def _add_part_row(self, name: str, quantity: str) -> None:
        self.ids.parts_box.add_widget(PartRow(screen=self, part_name=name, quantity=quantity))

    def remove_part(self, row: PartRow) -> None:
        self.ids.parts_box.remove_widget(row)
        self.changed()

    # -- photos ------------------------------------------------------------------------

    def pick_photo(self) -> None:
        if platform == "android":
            self._take_picture()
            return
        self.chooser = PhotoChooser(screen=self, title=_("Choose a photo"), start_path=os.path.expanduser("~"))
        self.chooser.open()

    def chosen(self, selection: list[str]) -> None:
        if self.chooser is not None:
            self.chooser.dismiss()
            self.chooser = None
        for path in selection:
            self.add_photo_path(path)

    def add_photo_path(self, path: str) -> bool:
        try:
            describe_file(path)
        except PhotoError:
            self.error = _("Not a photo the server accepts (JPEG, PNG, WebP or HEIC up to 15 MB).")
            return False
        if path not in self.photos:
            self.photos = [*self.photos, path]
        self.error = ""
        self._show_photos()
        self.changed()
        return True

    def remove_photo(self, path: str) -> None:
        self.photos = [p for p in self.photos if p != path]
        self._show_photos()
        self.changed()

    def _show_photos(self) -> None:
        box = self.ids.photos_box
        box.clear_widgets()
        for path in self.photos:
            box.add_widget(PhotoRow(screen=self, path=path))

    def _take_picture(self) -> None:
        from kivy.app import App

        app = App.get_running_app()
        folder = os.path.join(getattr(app, "data_dir", "") or app.user_data_dir, "camera")
        os.makedirs(folder, exist_ok=True)
        # A new name each time: a count (job7-2.jpg) would overwrite a kept photo after a removal.
        target = os.path.join(folder, camera_file_name(self.job_id))
        if not app.actions.take_picture(target, self._camera_done):
            self.error = _("The camera is not available.")

    def _camera_done(self, path: str) -> None:
        Clock.schedule_once(lambda _dt: self.add_photo_path(path))

    # -- submit ------------------------------------------------------------------------

    def set_reason(self, reason: str) -> None:
        self.reason = reason
        self.changed()

    def details(self) -> dict[str, Any] | None:
        """The event's details from the form, or None (with ``error`` set) if invalid."""
        note = self.ids.note.text.strip()
        if self.mode == "could_not_complete":
            if self.reason not in REASONS:
                self.error = _("Choose why the job could not be completed.")
                return None
            if len(note) > MAX_NOTE:
                self.error = _("The note is too long (at most {n} characters).").format(n=MAX_NOTE)
                return None
            return {"reason": self.reason, **({"note": note} if note else {})}
        resolution = self.ids.resolution.text.strip()
        if not resolution:
            self.error = _("Describe what you did.")
            return None
        if len(resolution) > MAX_RESOLUTION:
            self.error = _("The resolution is too long (at most {n} characters).").format(n=MAX_RESOLUTION)
            return None
        parts = []
        for row in self.part_rows():
            name = row.ids.name.text.strip()
            if not name:
                continue
            try:
                quantity = int(row.ids.quantity.text.strip())
            except ValueError:
                quantity = 0
            if not 1 <= quantity <= 999 or len(name) > MAX_PART_NAME:
                self.error = _('Check the part "{name}": quantity 1 to 999, name up to 120 characters.').format(
                    name=name[:40]
                )
                return None
            parts.append({"name": name, "quantity": quantity})
        return {"resolution": resolution, "parts": parts}

    def submit(self) -> None:
        details = self.details()
        if details is None:
            return
        job = self.board.job(self.job_id) or {}
        if self.mode not in (job.get("allowed_actions") or []):
            self.error = _("This action is no longer possible for this job.")
            return
        self.sync.record(self.job_id, self.mode, details)
        unreadable = []
        for path in self.photos:
            try:
                self.sync.add_photo(self.job_id, path)
            except (PhotoError, OSError):
                unreadable.append(os.path.basename(path))
        self.store.drop_draft(self.draft_key)
        job_id = self.job_id
        self.job_id = 0  # nothing left to save on leave
        detail = self.manager.get_screen("job_detail")
        detail.show_job(job_id)
        if unreadable:  # said on the screen the technician goes to, until they dismiss it
            detail.report_photo_problem(
                job_id, _("A photo could not be read: {name}").format(name=", ".join(unreadable))
            )
        self.manager.current = "job_detail"

    def back(self) -> None:
        self.save_draft()
        self.manager.current = "job_detail"
