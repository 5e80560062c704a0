"""The job board across log out and log in: a refused tap for a job the phone no longer has a copy of
still gets a card to be read on, and a list answer that arrives after log out is dropped."""

from __future__ import annotations

import pytest

from tests.mobile.stub_server import PASSWORD, USERNAME

pytestmark = pytest.mark.ui


def test_a_refused_tap_for_a_job_gone_from_the_list_keeps_a_card_after_logging_in_again(technician_app, stub, ui):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(0)
    stub.fail_events(409, "The office cancelled this job.")
    phone.tap_action("on_my_way")
    phone.wait_synced()
    assert phone.app.sync.rejected_count == 1
    stub.withdraw_job(101)
    phone.app.log_out(discard=False)  # nothing pending: the refusal stays to be read
    ui.wait_until(lambda: phone.current == "login", what="the login screen")

    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)  # the two jobs left, and a card for the refused tap
    card = phone.app.board.job(101)
    assert card is not None
    assert card["_withdrawn"]
    assert card["_rejected"] == "The office cancelled this job."
    assert card["allowed_actions"] == []
    assert [job["id"] for job in phone.app.board.jobs] == [102, 103, 101]
    phone.open_job(job_id=101)
    assert "The office cancelled this job." in phone.detail.rejection
    ui.tap(phone.detail.ids.dismiss_rejection)
    ui.frames(2)
    assert phone.app.board.job(101) is None
    assert phone.app.sync.rejected_count == 0


def test_a_list_answer_that_arrives_after_log_out_is_dropped(technician_app, stub, ui):
    phone = technician_app(stub.url, poll_first_s=0)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    board = phone.app.board
    stub.change_job(102, address="1 rue Neuve")  # a full answer, not a 304
    board.refresh()  # in flight...
    board.clear()  # ... when the technician logs out
    ui.pump_for(0.5)  # the answer arrives
    assert board.jobs == []
    assert not board.loaded
    assert phone.app.store.load_jobs() is None
    board.refresh()  # the next session's first look is not refused as "already refreshing"
    ui.wait_until(lambda: board.loaded, what="a new list")
