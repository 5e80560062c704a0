"""Changes kept at log out belong to the technician who made them: they are never sent
under the next technician's token, the screens say whose they are, and they go out, in
order, when that technician logs in again on the phone."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from mobile.services.outbox import Outbox, Owner
from mobile.services.photos import PhotoQueue
from tests.mobile.stub_server import PASSWORD, PASSWORD2, TOKEN, TOKEN2, USERNAME, USERNAME2

pytestmark = pytest.mark.ui


def _sent_with(stub: Any, token: str) -> list[str]:
    """Client ids of the event requests made with ``token``, in order (resends included)."""
    return [
        r.body["client_event_id"]
        for r in stub.requests_to("/api/mobile/events")
        if r.body is not None and r.headers.get("authorization") == f"Bearer {token}"
    ]


def test_changes_kept_at_logout_wait_for_their_technician(technician_app, stub, ui, artifact):
    phone = technician_app(stub.url)
    phone.login(USERNAME2, PASSWORD2)  # 张伟
    phone.wait_for_jobs(3)
    phone.open_job(job_id=101)
    stub.fail_events(503, times=1000)
    phone.tap_action("on_my_way")
    phone.tap_action("arrived")
    ui.wait_until(lambda: phone.app.sync.last_error, what="a failed send")
    zhang = [e.client_event_id for e in phone.app.outbox.pending()]
    assert len(zhang) == 2
    ui.tap(phone.detail.ids.back_button)
    ui.tap(phone.jobs_screen.ids.logout_button)
    ui.tap(phone.jobs_screen.logout_popup.ids.logout_keep)
    assert phone.current == "login"
    waiting = "2 change(s) not synced yet, made by 张伟: they wait for 张伟 to log in on this phone."
    assert phone.login_screen.ids.pending_label.text == waiting

    stub.event_faults.clear()
    phone.login(USERNAME, PASSWORD)  # Li Wei, on the same phone
    phone.wait_for_jobs(3)
    assert phone.app.sync.pending_count == 0  # the counts are his own
    assert phone.app.board.job(101)["status"] == "scheduled"  # no overlay of 张伟's taps
    phone.open_job(job_id=102)
    phone.tap_action("on_my_way")
    phone.wait_synced()
    li = _sent_with(stub, TOKEN)
    assert len(li) == 1
    assert not set(zhang) & set(li)  # never sent as Li Wei
    assert [e.client_event_id for e in phone.app.outbox.all() if e.state == "pending"] == zhang
    ui.tap(phone.detail.ids.back_button)
    ui.frames(2)
    assert phone.jobs_screen.ids.others_notice.text == waiting
    artifact("others-waiting-en")

    ui.tap(phone.jobs_screen.ids.logout_button)  # nothing of his own left: no question
    assert phone.jobs_screen.logout_popup is None
    assert phone.current == "login"
    phone.login(USERNAME2, PASSWORD2)
    phone.wait_synced()
    assert list(dict.fromkeys(_sent_with(stub, TOKEN2))) == zhang  # in the order they were tapped
    assert [stub.seen[cid]["status"] for cid in zhang] == ["en_route", "on_site"]
    assert phone.app.outbox.all() == []
    assert phone.jobs_screen.ids.others_notice.text == ""


def test_discard_at_logout_drops_only_the_current_technicians_changes(technician_app, stub, ui):
    phone = technician_app(stub.url)
    phone.login(USERNAME2, PASSWORD2)
    phone.wait_for_jobs(3)
    phone.open_job(job_id=101)
    stub.fail_events(503, times=1000)
    phone.tap_action("on_my_way")
    ui.wait_until(lambda: phone.app.sync.last_error, what="a failed send")
    ui.tap(phone.detail.ids.back_button)
    ui.tap(phone.jobs_screen.ids.logout_button)
    ui.tap(phone.jobs_screen.logout_popup.ids.logout_keep)

    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(job_id=102)
    phone.tap_action("on_my_way")
    ui.wait_until(lambda: phone.app.sync.last_error, what="a failed send")
    ui.tap(phone.detail.ids.back_button)
    ui.tap(phone.jobs_screen.ids.logout_button)
    popup = phone.jobs_screen.logout_popup
    assert popup.message.startswith("1 change(s) on this phone")  # his one, not 张伟's
    ui.tap(popup.ids.logout_discard)
    assert [e.work_order_id for e in phone.app.outbox.all()] == [101]  # 张伟's stays


def test_rows_from_before_owners_are_migrated_and_go_with_whoever_logs_in(tmp_path):
    path = str(tmp_path / "outbox.sqlite3")
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE photos (
            id INTEGER PRIMARY KEY AUTOINCREMENT, client_photo_id TEXT NOT NULL UNIQUE,
            work_order_id INTEGER NOT NULL, path TEXT NOT NULL, filename TEXT NOT NULL,
            content_type TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
            received INTEGER NOT NULL DEFAULT 0, announced INTEGER NOT NULL DEFAULT 0,
            restarts INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'uploading',
            last_error TEXT NOT NULL DEFAULT '');
        INSERT INTO photos (client_photo_id, work_order_id, path, filename, content_type, size, sha256)
            VALUES ('p1', 101, '/x/p1.jpg', 'p1.jpg', 'image/jpeg', 10, 'abc');
        """
    )
    db.commit()
    db.close()
    box = Outbox(path)
    old = box.add(work_order_id=101, action="on_my_way")
    box.close()
    photos = PhotoQueue(path, str(tmp_path / "photos"))
    box = Outbox(path)
    assert old.owner is None
    li = Owner("https://a.example", 7, "Li Wei")
    box.owner = photos.owner = li
    mine = box.add(work_order_id=102, action="on_my_way")
    box.owner = photos.owner = Owner("https://b.example", 7, "Li Wei")  # same id, another server
    assert [e.id for e in box.pending()] == [old.id]
    assert [p.client_photo_id for p in photos.uploading()] == ["p1"]
    assert box.waiting_by_owner() == {None: ("", 1), li.key: ("Li Wei", 1)}
    box.owner = li
    assert [e.id for e in box.pending()] == [old.id, mine.id]
    box.close()
    photos.close()
