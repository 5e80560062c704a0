"""A photo that fails is never dropped without a word: the sync line counts it, the job's
screen lists it with the reason and lets the technician retry or remove it, log out keeps
its file, and a photo that cannot be queued at submit is reported on the job's screen.
Camera shots get names that never collide."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest

from mobile.platform_actions import PlatformActions
from mobile.screens.finish import camera_file_name
from mobile.services.photos import DONE, FAILED, UPLOADING, PhotoQueue
from tests.mobile.stub_server import PASSWORD, USERNAME

pytestmark = pytest.mark.ui


def _photo(tmp_path: Any, name: str = "boiler.jpg", size: int = 1000) -> str:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return str(path)


def _failed_photo(phone: Any, stub: Any, ui: Any, tmp_path: Any) -> Any:
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    stub.corrupt_photo(times=2)  # a checksum mismatch twice: it gives up
    photo = phone.app.sync.add_photo(101, _photo(tmp_path))
    ui.wait_until(lambda: phone.app.photos.get(photo.id).state == FAILED, what="the photo failed")
    return photo


def test_a_failed_photo_is_counted_listed_and_can_be_retried(technician_app, stub, ui, tmp_path, artifact):
    phone = technician_app(stub.url)
    photo = _failed_photo(phone, stub, ui, tmp_path)
    assert phone.app.sync.failed_photo_count == 1
    assert "1 photo(s) failed" in phone.jobs_screen.pending_text
    phone.open_job(job_id=101)
    ui.frames(2)
    assert "1 photo(s) failed" in phone.detail.ids.pending_label.text
    [row] = phone.detail.failed_photo_rows()
    assert row.text == "Photo boiler.jpg was not uploaded: Checksum mismatch."
    artifact("failed-photo-en")

    ui.tap(row.ids.retry_button)
    again = phone.app.photos.get(photo.id)
    assert (again.state, again.received, again.announced) in {(UPLOADING, 0, False), (DONE, again.size, True)}
    phone.wait_synced()
    assert phone.app.photos.get(photo.id).state == DONE
    assert stub.photos[photo.client_photo_id]["complete"]
    assert phone.detail.failed_photo_rows() == []
    assert phone.app.sync.failed_photo_count == 0


def test_a_failed_photo_is_removed_only_when_the_technician_says_so(technician_app, stub, ui, tmp_path):
    phone = technician_app(stub.url)
    photo = _failed_photo(phone, stub, ui, tmp_path)
    phone.open_job(job_id=101)
    ui.frames(2)
    assert os.path.isfile(photo.path)
    [row] = phone.detail.failed_photo_rows()
    ui.tap(row.ids.remove_button)
    assert phone.app.photos.get(photo.id) is None
    assert not os.path.exists(photo.path)
    assert phone.detail.failed_photo_rows() == []
    assert "failed" not in phone.detail.ids.pending_label.text


def test_logout_keeps_the_files_of_failed_and_unsent_photos(technician_app, stub, ui, tmp_path):
    phone = technician_app(stub.url)
    failed = _failed_photo(phone, stub, ui, tmp_path)
    ui.tap(phone.jobs_screen.ids.logout_button)
    popup = phone.jobs_screen.logout_popup
    assert popup.message.startswith("1 change(s) on this phone are not sent yet.")
    ui.tap(popup.ids.logout_keep)
    assert phone.current == "login"
    assert os.path.isfile(failed.path)
    assert phone.app.photos.get(failed.id).state == FAILED

    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(job_id=101)
    ui.frames(2)
    assert len(phone.detail.failed_photo_rows()) == 1  # still there to retry or remove


def test_clear_at_logout_forgets_sent_photos_and_keeps_the_rest(tmp_path):
    queue = PhotoQueue(str(tmp_path / "outbox.sqlite3"), str(tmp_path / "photos"))
    sent, unsent, failed = (queue.add(work_order_id=101, source_path=_photo(tmp_path, f"{n}.jpg")) for n in "abc")
    queue.mark_done(sent.id)
    queue.mark_failed(failed.id, "Checksum mismatch.")
    queue.clear()
    assert [(p.id, p.state) for p in queue.all()] == [(unsent.id, UPLOADING), (failed.id, FAILED)]
    assert os.path.isfile(unsent.path)
    assert os.path.isfile(failed.path)
    queue.clear(discard=True)
    assert queue.all() == []
    assert not os.path.exists(failed.path)


def test_a_photo_that_cannot_be_queued_at_submit_is_reported_until_dismissed(technician_app, stub, ui, tmp_path):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(job_id=101)
    phone.tap_action("on_my_way")
    phone.wait_synced()
    phone.tap_action("arrived")
    phone.wait_synced()
    phone.tap_action("done")
    form = phone.app.root.get_screen("finish")
    ui.type_into(form.ids.resolution, "Replaced the valve")
    path = _photo(tmp_path, "gone.jpg")
    assert form.add_photo_path(path)
    os.remove(path)  # the gallery dropped it before submit
    ui.tap(form.ids.submit_button)
    assert phone.current == "job_detail"
    expected = "A photo could not be read: gone.jpg"
    assert phone.detail.photo_problem == expected
    assert phone.detail.ids.photo_problem_banner.opacity == 1
    phone.wait_synced()
    phone.open_job(job_id=102)
    assert phone.detail.photo_problem == ""  # it is about job 101
    phone.open_job(job_id=101)
    assert phone.detail.photo_problem == expected  # still there: not dismissed yet
    ui.frames(2)
    ui.tap(phone.detail.ids.dismiss_photo_problem)
    assert phone.detail.photo_problem == ""
    phone.open_job(job_id=101)
    assert phone.detail.photo_problem == ""


class Camera(PlatformActions):
    """A camera that writes a new picture to whatever file it is given."""

    def __init__(self) -> None:
        super().__init__("android")
        self.targets: list[str] = []

    def take_picture(self, target: str, on_done: Any) -> bool:
        self.targets.append(target)
        with open(target, "wb") as f:
            f.write(os.urandom(2000))
        on_done(target)
        return True


def test_camera_shots_never_overwrite_a_kept_photo(technician_app, stub, ui):
    camera = Camera()
    phone = technician_app(stub.url, actions=camera)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    form = phone.app.root.get_screen("finish")
    form.open_form(101, "done")
    form._take_picture()
    form._take_picture()
    ui.frames(2)
    first, second = form.photos
    kept = pathlib.Path(second).read_bytes()
    form.remove_photo(first)
    form._take_picture()  # a count-based name would be job101-2.jpg again
    ui.frames(2)
    assert len(set(camera.targets)) == 3
    assert form.photos[0] == second
    assert pathlib.Path(second).read_bytes() == kept
    assert os.path.basename(camera_file_name(101)).startswith("job101-")
    assert camera_file_name(101) != camera_file_name(101)
