"""Optimistic overlay and display helpers (pure functions)."""

from __future__ import annotations

from datetime import datetime

from mobile.services.jobview import (
    OPTIMISTIC,
    equipment_text,
    history_text,
    local_time,
    overlay,
    sync_status_text,
)
from mobile.services.outbox import OutboxEvent

JOB = {"id": 5, "status": "scheduled", "status_label": "Scheduled", "allowed_actions": ["on_my_way"], "history": []}


def _event(action: str, job_id: int = 5, state: str = "pending", error: str = "") -> OutboxEvent:
    return OutboxEvent(
        id=1,
        client_event_id="c" * 32,
        work_order_id=job_id,
        action=action,
        device_time="2026-11-23T08:00:00+00:00",
        latitude=None,
        longitude=None,
        state=state,
        attempts=0,
        last_error=error,
        dismissed=False,
    )


def test_optimistic_table_is_the_documented_one():
    assert {a: (s, allowed) for a, (s, _label, allowed) in OPTIMISTIC.items()} == {
        "on_my_way": ("en_route", ["arrived"]),
        "arrived": ("on_site", ["done"]),
        "done": ("completed", []),
    }


def test_pending_taps_apply_in_order_and_leave_the_server_copy_alone():
    [shown] = overlay([JOB], [_event("on_my_way"), _event("arrived")])
    assert (shown["status"], shown["allowed_actions"], shown["_unsynced"]) == ("on_site", ["done"], True)
    assert [h["kind"] for h in shown["history"]] == ["pending", "pending"]
    assert JOB["status"] == "scheduled"
    assert JOB["history"] == []


def test_other_jobs_and_unknown_actions_are_untouched():
    other = dict(JOB, id=6)
    shown = overlay([JOB, other], [_event("on_my_way", job_id=6), _event("teleport")])
    assert shown[0] == JOB
    assert shown[1]["status"] == "en_route"


def test_rejections_are_flagged_not_applied():
    [shown] = overlay([JOB], [], [_event("on_my_way", state="rejected", error="Cancelled.")])
    assert shown["status"] == "scheduled"
    assert shown["_rejected"] == "Cancelled."


def test_local_time():
    iso = "2026-11-23T08:30:00+00:00"
    assert local_time(iso) == datetime.fromisoformat(iso).astimezone().strftime("%H:%M")
    assert local_time("2026-11-23T08:30:00") == "08:30"  # naive: shown as is
    assert local_time(None) == local_time("garbage") == ""


def test_equipment_and_history_text():
    assert equipment_text(None) == "-"
    assert equipment_text({"type": "Heat pump", "model": "", "install_date": None}) == "Heat pump"
    assert equipment_text({"type": "Boiler", "model": "X1", "install_date": "2020-01-31"}) == (
        "Boiler X1 (installed 2020-01-31)"
    )
    assert history_text([]) == "No history yet."
    assert history_text([{"at": "2026-11-23T08:30:00", "kind": "x", "text": "Planned"}]) == ("23/11 08:30  Planned")


def test_sync_status_text():
    assert sync_status_text(0) == "Pending sync: 0 · all changes sent"
    assert sync_status_text(2) == "Pending sync: 2"
    assert sync_status_text(2, "Server unreachable") == "Pending sync: 2 · offline, will retry"
