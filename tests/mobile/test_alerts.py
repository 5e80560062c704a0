"""Alert diffs and the poll interval (pure, no window)."""

from __future__ import annotations

from mobile import i18n
from mobile.services.alerts import CHANGED, NEW, WITHDRAWN, Alert, PollSchedule, banner_text, diff_jobs, merge_alerts


def _job(job_id: int, **fields):
    return {"id": job_id, "reference": f"WO-{job_id:06d}", "status": "scheduled", "address": "A", **fields}


def test_new_changed_and_withdrawn_jobs():
    old = [_job(1), _job(2), _job(3, planned_arrival="2026-11-23T08:00:00Z")]
    new = [_job(1), _job(3, planned_arrival="2026-11-23T09:30:00Z", problem="Now leaking"), _job(4)]
    alerts = diff_jobs(old, new)
    assert [(a.kind, a.job_id) for a in alerts] == [(CHANGED, 3), (NEW, 4), (WITHDRAWN, 2)]
    assert alerts[0].fields == ("planned_arrival", "problem")
    assert [a.text for a in alerts] == ["Job WO-000003 changed", "New job WO-000004", "Job WO-000002 was withdrawn"]


def test_a_re_plan_that_moves_the_arrival_a_little_is_no_alert():
    old = [_job(1, planned_arrival="2026-11-23T08:00:00+00:00"), _job(2, planned_arrival="2026-11-23T09:00:00Z")]
    new = [_job(1, planned_arrival="2026-11-23T08:14:00+00:00"), _job(2, planned_arrival="2026-11-23T09:15:00Z")]
    [alert] = diff_jobs(old, new)
    assert (alert.job_id, alert.fields) == (2, ("planned_arrival",))
    assert diff_jobs([_job(3, planned_arrival=None)], [_job(3, planned_arrival="2026-11-23T09:00:00Z")])[0].fields == (
        "planned_arrival",
    )


def test_no_alert_for_fields_the_technician_does_not_need():
    assert diff_jobs([_job(1, route_position=1)], [_job(1, route_position=2, history=[{"text": "x"}])]) == []
    assert diff_jobs([_job(1)], [_job(1, status="cancelled")])[0].fields == ("status",)


def test_alerts_texts_follow_the_language():
    try:
        i18n.set_language("zh-CN")
        assert Alert(NEW, 4, "WO-000004").text == "新工单 WO-000004"
    finally:
        i18n.set_language("en")


def test_merge_keeps_one_alert_per_job_and_banner_counts_the_rest():
    first = [Alert(NEW, 4, "WO-4"), Alert(CHANGED, 3, "WO-3")]
    merged = merge_alerts(first, [Alert(CHANGED, 4, "WO-4")])
    assert [(a.kind, a.job_id) for a in merged] == [(CHANGED, 3), (CHANGED, 4)]
    assert banner_text(merged) == "Job WO-3 changed (+1 more)"
    assert banner_text([]) == ""


def test_poll_interval_backs_off_and_resets():
    poll = PollSchedule(first=30, maximum=300)
    assert poll.interval == 30
    assert [poll.unchanged() for _ in range(5)] == [60, 120, 240, 300, 300]
    assert poll.reset() == 30
