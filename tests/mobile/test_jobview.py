"""Optimistic overlay and display helpers (pure functions)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from mobile.services.jobview import (
    apply_optimistic,
    arrival_text,
    equipment_text,
    history_text,
    local_time,
    overlay,
    priority_badge,
    site_visits_text,
    sync_status_text,
    window_text,
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
    shown = {a: apply_optimistic(JOB, _event(a)) for a in ("on_my_way", "arrived", "done", "could_not_complete")}
    assert {a: (j["status"], j["allowed_actions"]) for a, j in shown.items()} == {
        "on_my_way": ("en_route", ["arrived", "could_not_complete"]),
        "arrived": ("on_site", ["done", "could_not_complete"]),
        "done": ("completed", []),
        "could_not_complete": ("on_hold", []),
    }
    # the server's ETA belongs to the server's state, not to a guess
    assert shown["on_my_way"]["eta_start"] is None


def test_pending_taps_apply_in_order_and_leave_the_server_copy_alone():
    [shown] = overlay([JOB], [_event("on_my_way"), _event("arrived")])
    assert (shown["status"], shown["allowed_actions"], shown["_unsynced"]) == (
        "on_site",
        ["done", "could_not_complete"],
        True,
    )
    assert [h["kind"] for h in shown["history"]] == ["pending", "pending"]
    assert JOB["status"] == "scheduled"
    assert JOB["history"] == []


def test_other_jobs_unknown_actions_and_location_reports_are_untouched():
    other = dict(JOB, id=6)
    location = dataclasses.replace(_event("on_my_way"), kind="location", action="location")
    shown = overlay([JOB, other], [_event("on_my_way", job_id=6), _event("teleport"), location])
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
        "Boiler X1 (installed 31 Jan 2020)"
    )
    assert history_text([]) == "No history yet."
    assert history_text([{"at": "2026-11-23T08:30:00", "kind": "x", "text": "Planned"}]) == ("23 Nov 08:30  Planned")


def test_sync_status_text():
    assert sync_status_text(0) == "Online · all changes sent"
    assert sync_status_text(2) == "Online · 2 event(s) waiting"
    assert sync_status_text(2, "Server unreachable") == "Offline · 2 event(s) waiting"
    assert sync_status_text(0, offline=True, photos=1, rejected=1) == (
        "Offline · 1 photo(s) uploading · 1 rejected, needs attention"
    )


def test_eta_window_and_badges():
    job = {"planned_arrival": "2026-11-23T08:30:00", "eta_start": None, "eta_end": None}
    assert arrival_text(job) == "Planned 08:30"
    job.update(eta_start="2026-11-23T09:10:00", eta_end="2026-11-23T09:40:00")
    assert arrival_text(job) == "ETA 09:10–09:40"  # the server's window wins
    assert window_text("2026-11-23T08:00:00", None) == ""
    assert [priority_badge(p) for p in ("low", "normal", "high", "urgent", None)] == [
        "",
        "",
        "High priority",
        "Urgent",
        "",
    ]


def test_site_visits_text():
    assert site_visits_text([]) == "No earlier visits."
    text = site_visits_text(
        [
            {
                "reference": "WO-000007",
                "status_label": "Completed",
                "problem": "Leak",
                "resolution": "Replaced the seal",
                "finished_at": "2026-10-02T10:00:00",
                "technician_name": "Li Wei",
            }
        ]
    )
    assert text.splitlines() == [
        "2 Oct 10:00 · WO-000007 · Completed · Li Wei",
        "Problem: Leak",
        "Resolution: Replaced the seal",
    ]
