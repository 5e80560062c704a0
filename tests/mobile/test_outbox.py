"""The sqlite outbox: order, persistence, rejected vs pending, payload shape."""

from __future__ import annotations

import re
from datetime import datetime

from mobile.services.outbox import PENDING, REJECTED, Outbox, device_now


def _outbox(tmp_path) -> Outbox:
    return Outbox(str(tmp_path / "outbox.sqlite3"))


def test_events_come_out_in_the_order_they_went_in(tmp_path):
    box = _outbox(tmp_path)
    for job_id, action in [(2, "on_my_way"), (1, "on_my_way"), (2, "arrived")]:
        box.add(work_order_id=job_id, action=action)
    assert [(e.work_order_id, e.action) for e in box.pending()] == [(2, "on_my_way"), (1, "on_my_way"), (2, "arrived")]
    head = box.next_pending()
    assert head is not None
    assert head.action == "on_my_way"
    assert head.work_order_id == 2
    box.mark_sent(head.id)
    assert box.next_pending().work_order_id == 1
    assert box.pending_count() == 2


def test_new_event_has_device_id_time_and_place(tmp_path):
    event = _outbox(tmp_path).add(work_order_id=7, action="arrived", latitude=48.1, longitude=2.2)
    assert re.fullmatch(r"[0-9a-f]{32}", event.client_event_id)
    assert datetime.fromisoformat(event.device_time).utcoffset() is not None
    assert event.payload() == {
        "client_event_id": event.client_event_id,
        "work_order_id": 7,
        "action": "arrived",
        "device_time": event.device_time,
        "latitude": 48.1,
        "longitude": 2.2,
    }
    assert (event.state, event.attempts, event.last_error) == (PENDING, 0, "")


def test_ids_are_unique(tmp_path):
    box = _outbox(tmp_path)
    ids = {box.add(work_order_id=1, action="done").client_event_id for _ in range(50)}
    assert len(ids) == 50


def test_survives_a_restart(tmp_path):
    box = _outbox(tmp_path)
    first = box.add(work_order_id=1, action="on_my_way", latitude=None, longitude=None)
    box.add(work_order_id=1, action="arrived")
    box.record_failure(first.id, "Server unreachable")
    box.close()

    again = _outbox(tmp_path)
    pending = again.pending()
    assert [e.action for e in pending] == ["on_my_way", "arrived"]
    assert pending[0].client_event_id == first.client_event_id
    assert (pending[0].attempts, pending[0].last_error) == (1, "Server unreachable")
    assert pending[0].latitude is None


def test_ids_keep_growing_after_the_table_was_emptied(tmp_path):
    box = _outbox(tmp_path)
    old = box.add(work_order_id=1, action="done")
    box.mark_sent(old.id)
    box.close()
    new = _outbox(tmp_path).add(work_order_id=1, action="done")
    assert new.id > old.id  # AUTOINCREMENT never reuses a row id


def test_rejected_is_kept_but_no_longer_pending(tmp_path):
    box = _outbox(tmp_path)
    bad = box.add(work_order_id=1, action="on_my_way")
    good = box.add(work_order_id=2, action="on_my_way")
    box.mark_rejected(bad.id, "Job was cancelled.")

    assert box.next_pending().id == good.id
    assert box.pending_count() == 1
    [kept] = box.rejected()
    assert (kept.state, kept.last_error, kept.attempts) == (REJECTED, "Job was cancelled.", 1)
    assert box.rejected(work_order_id=2) == []

    box.dismiss(bad.id)
    assert box.rejected() == []
    [still] = box.rejected(include_dismissed=True)
    assert still.dismissed
    assert still.state == REJECTED
    assert len(box.all()) == 2


def test_dismiss_does_not_touch_pending_events(tmp_path):
    box = _outbox(tmp_path)
    event = box.add(work_order_id=1, action="done")
    box.dismiss(event.id)
    assert not box.get(event.id).dismissed


def test_device_now_has_milliseconds_and_an_offset():
    # Milliseconds: two taps in one second keep their order on the server.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", device_now())


OLD_SCHEMA = """
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_event_id TEXT    NOT NULL UNIQUE,
    work_order_id   INTEGER NOT NULL,
    action          TEXT    NOT NULL,
    device_time     TEXT    NOT NULL,
    latitude        REAL,
    longitude       REAL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'rejected')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    dismissed       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_state ON outbox (state, id);
"""


def test_a_table_of_the_first_app_version_is_migrated_and_its_taps_kept(tmp_path):
    import sqlite3

    path = tmp_path / "outbox.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.execute(
        "INSERT INTO outbox (client_event_id, work_order_id, action, device_time, latitude, longitude)"
        " VALUES ('a1', 101, 'on_my_way', '2026-11-23T08:00:00+01:00', 48.1, 2.2)"
    )
    db.commit()
    db.close()

    box = Outbox(str(path))
    [old] = box.pending()
    assert (old.client_event_id, old.kind, old.details()) == ("a1", "tap", {})
    assert old.payload() == {
        "client_event_id": "a1",
        "work_order_id": 101,
        "action": "on_my_way",
        "device_time": "2026-11-23T08:00:00+01:00",
        "latitude": 48.1,
        "longitude": 2.2,
    }
    new = box.add(work_order_id=101, action="done", details={"resolution": "Fixed", "parts": []})
    assert [e.id for e in box.pending()] == [old.id, new.id]
    box.close()
    Outbox(str(path)).close()  # opening a migrated table again changes nothing
    columns = [row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(outbox)")]
    assert columns[-4:] == ["kind", "extra", "owner", "owner_name"]


def test_details_go_into_the_event_body(tmp_path):
    box = _outbox(tmp_path)
    parts = [{"name": "Seal 22 mm", "quantity": 2}]
    event = box.add(work_order_id=5, action="done", details={"resolution": "Replaced the seal", "parts": parts})
    again = _outbox(tmp_path).get(event.id)
    assert again.payload()["resolution"] == "Replaced the seal"
    assert again.payload()["parts"] == parts
    cnc = box.add(work_order_id=5, action="could_not_complete", details={"reason": "no_access", "note": "门锁着"})
    assert (cnc.payload()["reason"], cnc.payload()["note"]) == ("no_access", "门锁着")


def test_location_reports_share_the_queue_but_have_their_own_body(tmp_path):
    box = _outbox(tmp_path)
    tap = box.add(work_order_id=5, action="on_my_way")
    report = box.add_location(latitude=48.2, longitude=2.3, work_order_id=5, accuracy_m=12.5)
    assert [e.id for e in box.pending()] == [tap.id, report.id]  # one order for both
    assert report.kind == "location"
    assert report.payload() == {
        "client_event_id": report.client_event_id,
        "device_time": report.device_time,
        "latitude": 48.2,
        "longitude": 2.3,
        "accuracy_m": 12.5,
    }
    assert box.pending_count(kind="location") == 1
    assert box.pending_count(work_order_id=6) == 0


def test_discard_pending_only_when_asked(tmp_path):
    box = _outbox(tmp_path)
    box.add(work_order_id=1, action="on_my_way")
    refused = box.add(work_order_id=2, action="on_my_way")
    box.mark_rejected(refused.id, "No.")
    assert box.discard_pending() == 1
    assert [e.id for e in box.all()] == [refused.id]
    box.clear_rejected()
    assert box.all() == []
