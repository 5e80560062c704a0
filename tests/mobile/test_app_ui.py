"""The technician app in a real (offscreen) window, against the loopback stub server."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from mobile.main import TechnicianApp
from mobile.services.location import FixedLocation
from tests.mobile.stub_server import PASSWORD, TOKEN, USERNAME

pytestmark = pytest.mark.ui

HERE = FixedLocation(48.8566, 2.3522)


def _local_hhmm(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%H:%M")


def _differs(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return max(abs(x - y) for x, y in zip(a[:3], b[:3], strict=True)) > 0.1


def test_login_then_jobs_in_route_order(technician_app, stub, ui):
    phone = technician_app(stub.url, location=HERE)
    assert phone.current == "login"
    login_shot = ui.screenshot("login")

    phone.login(USERNAME, PASSWORD)
    jobs = phone.wait_for_jobs(3)

    assert [j["route_position"] for j in jobs] == [1, 2, 3]
    rows = phone.jobs_screen.rows()
    assert [r.job_id for r in rows] == [101, 102, 103]
    assert rows[0].customer == "Mme Dupont"
    assert rows[0].arrival == _local_hhmm(jobs[0]["planned_arrival"])
    assert rows[0].status_label == "Scheduled"
    assert "5 avenue Foch" in rows[0].address
    assert phone.jobs_screen.ids.pending_label.text == "Online · all changes sent"
    assert phone.jobs_screen.ids.offline_notice.text == ""
    login = stub.requests_to("/api/auth/token")[0]
    assert login.body == {"username": USERNAME, "password": PASSWORD}
    assert stub.requests_to("/api/mobile/jobs")[-1].headers["authorization"] == f"Bearer {TOKEN}"

    path = ui.screenshot("job_list")
    # The PNG really shows the UI: the app bar is blue, a row card is white, the
    # background between them is light grey.
    bar = phone.jobs_screen.ids.day_label
    bar_px = ui.pixel(path, *bar.to_window(bar.x + 2, bar.center_y))
    row_px = ui.pixel(path, *rows[0].to_window(rows[0].x + 20, rows[0].y + 12))
    assert bar_px[2] > 0.6 > bar_px[0], bar_px
    assert min(row_px[:3]) > 0.97, row_px
    button = phone.login_screen.ids.login_button
    button_px = ui.pixel(login_shot, *button.to_window(button.x + 3, button.y + 3))
    assert button_px[2] > 0.6 > button_px[0], button_px


def test_wrong_password_shows_server_message(technician_app, stub):
    phone = technician_app(stub.url)
    phone.login(USERNAME, "nope", expect_success=False)
    assert phone.current == "login"
    assert phone.login_screen.ids.login_error.text == "Wrong username or password."
    assert phone.app.api.token is None


def test_detail_shows_job_and_on_my_way_syncs_with_id_time_and_place(technician_app, stub, ui):
    phone = technician_app(stub.url, location=HERE)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(0)
    detail = phone.detail

    assert detail.reference == "WO-000101"
    assert detail.customer == "Mme Dupont"
    assert detail.phone == "+33 6 12 34 56 78"
    assert "Vaillant ecoTEC plus" in detail.ids.equipment.value
    assert "Planned by dispatch" in detail.ids.history.full_text
    assert (detail.ids.btn_on_my_way.disabled, detail.ids.btn_arrived.disabled, detail.ids.btn_done.disabled) == (
        False,
        True,
        True,
    )

    stub.hold_events()  # keep the request in flight while we look
    phone.tap_action("on_my_way")
    # optimistic: shown en route at once, "Arrived" is next, the tap is in the outbox
    assert detail.status == "en_route"
    assert (detail.ids.btn_on_my_way.disabled, detail.ids.btn_arrived.disabled) == (True, False)
    assert "1 event(s) waiting" in detail.ids.pending_label.text
    ui.wait_until(lambda: stub.events, what="the event reaching the server")
    assert phone.app.sync.sending

    stub.release_events()
    phone.wait_synced()
    assert detail.ids.pending_label.text == "Online · all changes sent"
    [event] = stub.events
    assert re.fullmatch(r"[0-9a-f]{32}", event["client_event_id"])
    assert (event["work_order_id"], event["action"]) == (101, "on_my_way")
    device_time = datetime.fromisoformat(event["device_time"])
    assert device_time.utcoffset() is not None
    assert abs((datetime.now(device_time.tzinfo) - device_time).total_seconds()) < 60
    assert (event["latitude"], event["longitude"]) == (48.8566, 2.3522)
    # the server's job replaced the local one
    assert detail.status == "en_route"
    assert detail.status_label == "En route"
    assert "En route (by technician)" in detail.ids.history.full_text
    assert phone.app.board.job(101).get("_unsynced") is None

    path = ui.screenshot("job_detail")
    arrived = detail.ids.btn_arrived
    done = detail.ids.btn_done
    arrived_px = ui.pixel(path, *arrived.to_window(arrived.x + 4, arrived.y + 4))
    done_px = ui.pixel(path, *done.to_window(done.x + 4, done.y + 4))
    assert arrived_px[2] > 0.6 > arrived_px[0], arrived_px  # enabled: blue
    assert _differs(arrived_px, done_px)  # disabled: grey


def test_lost_response_resend_reuses_client_event_id(technician_app, stub):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(0)
    stub.drop_event_responses()  # applied on the server, answer never arrives

    phone.tap_action("on_my_way")
    phone.wait_synced()

    first, resend = stub.events
    assert first == resend  # same client id, same device time, same place
    assert stub.seen[first["client_event_id"]]["status"] == "en_route"
    assert phone.detail.status == "en_route"
    assert phone.app.outbox.all() == []


def test_offline_taps_stay_queued_in_order_until_server_is_back(technician_app, stub, ui):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(1)
    stub.stop()  # the phone loses the network

    phone.tap_action("on_my_way")
    phone.tap_action("arrived")  # enabled optimistically
    ui.wait_until(lambda: phone.app.sync.last_error, what="a failed send attempt")
    ui.pump_for(0.5)  # a retry or two, still offline

    pending = phone.app.outbox.pending()
    assert [e.action for e in pending] == ["on_my_way", "arrived"]
    assert pending[0].attempts >= 1
    assert "unreachable" in pending[0].last_error
    assert phone.detail.status == "on_site"  # both taps shown optimistically
    assert phone.detail.ids.pending_label.text == "Offline · 2 event(s) waiting"
    ui.screenshot("offline_detail")
    ui.tap(phone.detail.ids.back_button)
    rows = phone.jobs_screen.rows()
    assert rows[1].note == "Waiting to sync"
    assert rows[1].status_label == "On site"
    ui.screenshot("offline_list_pending")

    stub.start()  # same port: the network is back
    phone.wait_synced(timeout=15)
    assert [(e["work_order_id"], e["action"]) for e in stub.events] == [(102, "on_my_way"), (102, "arrived")]
    assert rows[1].note == ""
    assert rows[1].status_label == "On site"
    phone.open_job(1)
    assert phone.detail.status == "on_site"
    assert phone.detail.allowed == ["done", "could_not_complete"]


def test_server_errors_5xx_are_retried_with_the_same_id(technician_app, stub):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(0)
    stub.fail_events(503, times=2)

    phone.tap_action("on_my_way")
    phone.wait_synced()

    assert len(stub.events) == 3
    assert len({e["client_event_id"] for e in stub.events}) == 1
    assert phone.detail.status == "en_route"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (409, "Job WO-000101 was cancelled by the dispatcher."),
        (403, "This job is assigned to another technician."),
    ],
)
def test_rejection_is_shown_and_kept(technician_app, stub, ui, status, message):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(0)
    stub.fail_events(status, message)

    phone.tap_action("on_my_way")
    ui.wait_until(lambda: phone.detail.rejection, what="the rejection banner")
    phone.wait_synced()

    detail = phone.detail
    assert message in detail.ids.rejection_text.text
    assert detail.ids.rejection_banner.height > 0
    [row] = phone.app.outbox.all()
    assert (row.state, row.last_error, row.action) == ("rejected", message, "on_my_way")
    # back to the server's view of the job (not the optimistic one)
    ui.wait_until(lambda: not phone.app.board.loading)
    assert detail.status == "scheduled"
    assert detail.allowed == ["on_my_way"]
    assert "event(s) waiting" not in detail.ids.pending_label.text
    rows = {r.job_id: r for r in phone.jobs_screen.rows()}
    assert rows[101].note == f"Refused: {message}"
    ui.screenshot(f"rejected_{status}")

    ui.tap(detail.ids.dismiss_rejection)
    assert detail.rejection == ""
    [row] = phone.app.outbox.all()  # read, but never deleted
    assert row.state == "rejected"
    assert row.dismissed


def test_restart_skips_login_and_shows_cached_list_offline(technician_app, stub, ui):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    ui.stop(phone.app)
    stub.stop()

    again = technician_app(stub.url)  # same data dir: same phone
    assert again.current == "jobs"
    assert [j["id"] for j in again.app.board.jobs] == [101, 102, 103]
    ui.wait_until(lambda: again.app.board.offline, what="the offline notice")
    notice = again.jobs_screen.ids.offline_notice.text
    assert re.fullmatch(r"Offline — last updated \d\d:\d\d", notice), notice
    ui.screenshot("offline_list")

    stub.start()
    ui.tap(again.jobs_screen.ids.refresh_button)
    ui.wait_until(lambda: not again.app.board.offline, what="back online")
    assert again.jobs_screen.ids.offline_notice.text == ""


def test_offline_tap_survives_app_restart(technician_app, stub, ui):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(0)
    stub.stop()
    phone.tap_action("on_my_way")
    ui.wait_until(lambda: phone.app.sync.last_error)
    client_id = phone.app.outbox.pending()[0].client_event_id
    ui.stop(phone.app)

    stub.start()
    again = technician_app(stub.url)
    again.wait_synced()
    # One id only. (A send started by the first app just before it stopped may land
    # too; that copy is the duplicate the server recognises by the same id.)
    assert {e["client_event_id"] for e in stub.events} == {client_id}
    assert again.app.board.job(101)["status"] == "en_route"


def test_401_while_syncing_goes_to_login_and_keeps_the_outbox(technician_app, stub, ui):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(0)
    stub.fail_events(401, "Token revoked.")

    phone.tap_action("on_my_way")
    ui.wait_until(lambda: phone.current == "login", what="back on the login screen")
    assert phone.login_screen.ids.login_error.text == "Token revoked."
    assert [e.action for e in phone.app.outbox.pending()] == ["on_my_way"]
    assert "1 change(s) not synced" in phone.login_screen.ids.pending_label.text

    phone.login(USERNAME, PASSWORD)
    phone.wait_synced()
    assert len(stub.events) == 2
    assert stub.events[0] == stub.events[1]
    assert phone.app.board.job(101)["status"] == "en_route"


def test_logout_forgets_the_token(technician_app, stub, ui):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    ui.tap(phone.jobs_screen.ids.logout_button)
    assert phone.current == "login"
    assert phone.login_screen.ids.username.text == USERNAME
    assert phone.login_screen.ids.password.text == ""
    ui.stop(phone.app)

    again = technician_app(stub.url)
    assert again.current == "login"


def test_button_dispatch_without_touch_respects_allowed_actions(technician_app, stub, ui):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(0)
    phone.detail.ids.btn_done.dispatch("on_release")  # disabled button, forced
    ui.frames(2)
    assert phone.app.outbox.all() == []


def test_app_constructor_for_tests(tmp_path):
    app = TechnicianApp(server_url="http://example.invalid:8000/", data_dir=str(tmp_path), location=HERE)
    assert app.server_url == "http://example.invalid:8000"
    assert app.location is HERE
