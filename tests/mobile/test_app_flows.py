"""The technician app's day-to-day flows in a real (offscreen) window, against the stub:
finish form, drafts, photos, location reports, polling and alerts, log out, long texts,
navigation and dialling, the server address on the login screen."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import pytest

from mobile.platform_actions import PlatformActions
from mobile.services.location import FixedLocation, SimulatedLocation
from mobile.services.photos import DONE, FAILED
from mobile.services.store import JOBS_FILE
from tests.mobile.stub_server import DAY, PASSWORD, TOKEN, USERNAME, make_job

pytestmark = pytest.mark.ui

HERE = FixedLocation(48.8566, 2.3522)


class RecordingActions(PlatformActions):
    def __init__(self) -> None:
        self.tried: list[str] = []
        self.alerts = 0
        super().__init__("android", opener=self._open)

    def _open(self, uri: str) -> bool:
        self.tried.append(uri)
        return not uri.startswith("androidamap")  # no Amap on this phone

    def alert(self) -> None:
        self.alerts += 1


def _photo(tmp_path: Any, name: str = "boiler.jpg", size: int = 300_000) -> str:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return str(path)


def _on_site(phone: Any, index: int = 0) -> None:
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(index)
    phone.tap_action("on_my_way")
    phone.wait_synced()
    phone.tap_action("arrived")
    phone.wait_synced()


def _open_finish(phone: Any, action: str) -> Any:
    phone.tap_action(action)
    assert phone.current == "finish"
    return phone.app.root.get_screen("finish")


def test_done_queues_one_event_with_resolution_and_parts_then_uploads_the_photo(technician_app, stub, ui, tmp_path):
    phone = technician_app(stub.url, location=HERE)
    _on_site(phone)
    form = _open_finish(phone, "done")
    ui.type_into(form.ids.resolution, "Replaced the pressure sensor")
    ui.tap(form.ids.add_part_button)
    ui.tap(form.ids.add_part_button)
    first, second = form.part_rows()
    ui.type_into(first.ids.name, "Pressure sensor PS-2")
    ui.type_into(first.ids.quantity, "1")
    ui.type_into(second.ids.name, "Seal")
    ui.tap(second.ids.remove_button)
    assert len(form.part_rows()) == 1
    assert form.add_photo_path(_photo(tmp_path))
    stub.hold_events()
    ui.tap(form.ids.submit_button)

    assert phone.current == "job_detail"
    assert phone.detail.status == "completed"  # shown at once, waiting to sync
    [queued] = [e for e in phone.app.outbox.pending() if e.action == "done"]
    assert queued.details() == {
        "resolution": "Replaced the pressure sensor",
        "parts": [{"name": "Pressure sensor PS-2", "quantity": 1}],
    }
    assert phone.app.sync.photo_count == 1
    ui.pump_for(0.3)
    assert stub.photos == {}  # the photo waits for its job's event
    stub.release_events()
    phone.wait_synced()

    done = [e for e in stub.events if e["action"] == "done"]
    assert len(done) == 1
    assert done[0]["parts"] == [{"name": "Pressure sensor PS-2", "quantity": 1}]
    [photo] = phone.app.photos.all()
    assert photo.state == DONE
    assert stub.photos[photo.client_photo_id]["complete"]
    paths = [r.path for r in stub.requests]
    assert paths.index("/api/mobile/photos") > max(i for i, p in enumerate(paths) if p == "/api/mobile/events")
    assert phone.app.store.load_draft("101:done") is None


def test_could_not_complete_sends_reason_and_note(technician_app, stub, ui):
    phone = technician_app(stub.url)
    _on_site(phone, 1)
    form = _open_finish(phone, "could_not_complete")
    ui.tap(form.ids.submit_button)
    assert form.error == "Choose why the job could not be completed."
    assert phone.current == "finish"
    ui.tap(form.ids.reason_no_access)
    ui.type_into(form.ids.note, "Gate locked, nobody answers")
    ui.tap(form.ids.submit_button)
    phone.wait_synced()
    [event] = [e for e in stub.events if e["action"] == "could_not_complete"]
    assert (event["work_order_id"], event["reason"], event["note"]) == (102, "no_access", "Gate locked, nobody answers")
    assert "resolution" not in event
    assert phone.detail.status == "on_hold"


def test_finish_draft_survives_an_app_restart(technician_app, stub, ui, tmp_path):
    phone = technician_app(stub.url)
    _on_site(phone)
    form = _open_finish(phone, "done")
    ui.type_into(form.ids.resolution, "Half done: flushed the circuit")
    ui.tap(form.ids.add_part_button)
    ui.type_into(form.part_rows()[0].ids.name, "Inhibitor")
    ui.type_into(form.part_rows()[0].ids.quantity, "2")
    photo = _photo(tmp_path)
    form.add_photo_path(photo)
    ui.pump_for(0.5)  # the draft is saved shortly after typing stops
    ui.stop(phone.app)  # killed before submitting

    again = technician_app(stub.url)
    again.wait_for_jobs(3)
    again.open_job(0)
    form = _open_finish(again, "done")
    assert form.ids.resolution.text == "Half done: flushed the circuit"
    assert [(r.ids.name.text, r.ids.quantity.text) for r in form.part_rows()] == [("Inhibitor", "2")]
    assert form.photos == [photo]
    ui.tap(form.ids.submit_button)
    again.wait_synced()
    [done] = [e for e in stub.events if e["action"] == "done"]
    assert done["resolution"] == "Half done: flushed the circuit"
    assert again.app.store.load_draft("101:done") is None


def test_photo_upload_resumes_after_a_restart_and_a_lost_chunk(technician_app, stub, ui, tmp_path):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    photo = phone.app.sync.add_photo(101, _photo(tmp_path, size=3_000_000))
    ui.wait_until(lambda: phone.app.photos.get(photo.id).received > 0, what="a first chunk confirmed")
    ui.stop(phone.app)
    received_before = stub.photos[photo.client_photo_id]["data"]
    assert 0 < len(received_before) < photo.size
    stub.lose_photo_chunk()

    again = technician_app(stub.url)
    again.wait_synced(timeout=20)
    assert again.app.photos.get(photo.id).state == DONE
    stored = stub.photos[photo.client_photo_id]
    assert stored["complete"]
    assert len(stored["data"]) == photo.size
    puts = [r.path for r in stub.requests if r.method == "PUT"]
    first_after_restart = next(p for p in puts if not p.endswith("offset=0"))
    assert first_after_restart  # resumed at an offset, not from the start
    assert sum(1 for p in puts if p.endswith("offset=0")) == 1
    assert any(r.method == "PUT" for r in stub.requests)


def test_a_checksum_mismatch_restarts_once_then_fails(technician_app, stub, ui, tmp_path):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    stub.corrupt_photo()
    once = phone.app.sync.add_photo(101, _photo(tmp_path, "a.jpg", 1000))
    phone.wait_synced()
    assert phone.app.photos.get(once.id).state == DONE
    stub.corrupt_photo(times=2)
    twice = phone.app.sync.add_photo(101, _photo(tmp_path, "b.png", 1000))
    ui.wait_until(lambda: phone.app.photos.get(twice.id).state == FAILED, what="the photo marked failed")
    assert phone.app.photos.get(twice.id).restarts == 1


def test_location_reports_every_interval_while_en_route_only(technician_app, stub, ui):
    drive = SimulatedLocation((48.80, 2.30), (48.85, 2.35), steps=10)
    phone = technician_app(stub.url, location=drive, location_every_s=0.2)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    ui.pump_for(0.7)
    assert stub.locations == []  # nothing en route: no reports
    assert not phone.app.reporter.running

    phone.open_job(0)
    phone.tap_action("on_my_way")
    phone.wait_synced()
    ui.pump_for(1.1)
    phone.wait_synced()
    reports = list(stub.locations)
    assert 3 <= len(reports) <= 7
    assert len({r["client_event_id"] for r in reports}) == len(reports)
    assert reports[0]["latitude"] < reports[-1]["latitude"]  # the phone moves
    assert all(datetime.fromisoformat(r["device_time"]).utcoffset() is not None for r in reports)

    phone.tap_action("arrived")
    phone.wait_synced()
    count = len(stub.locations)
    ui.pump_for(0.7)
    assert len(stub.locations) == count
    assert not phone.app.reporter.running


def test_polling_uses_etags_backs_off_and_alerts_on_office_changes(technician_app, stub, ui):
    actions = RecordingActions()
    phone = technician_app(stub.url, actions=actions, poll_first_s=0.2, poll_max_s=0.8)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    ui.pump_for(1.6)
    polls = stub.requests_to("/api/mobile/jobs")
    assert 3 <= len(polls) <= 8  # 0.2, 0.4, 0.8, 0.8 ... not every frame
    assert all(p.headers.get("if-none-match") == stub.etag() for p in polls[1:])
    assert phone.app.board.poll.interval == 0.8
    assert phone.app.board.alerts == []

    stub.change_job(102, planned_arrival=f"{DAY}T11:45:00+00:00")
    stub.add_job(make_job(104, 4, "Café Lumière", "3 rue Oberkampf, 75011 Paris", "16:00"))
    stub.withdraw_job(103)
    ui.wait_until(lambda: len(phone.app.board.alerts) == 3, timeout=5, what="three alerts")
    screen = phone.jobs_screen
    assert screen.ids.alert_banner.text == "Job WO-000102 changed (+2 more)"
    assert screen.ids.alert_banner.height > 0
    assert actions.alerts == 1
    assert phone.app.board.poll.interval == 0.2  # a change: look again soon
    assert [j["id"] for j in phone.app.board.jobs] == [101, 102, 104]
    ui.tap(screen.ids.alert_banner.ids.alert_ok)
    assert screen.ids.alert_banner.text == "New job WO-000104 (+1 more)"


def test_eta_shown_is_the_servers_window(technician_app, stub, ui):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(0)
    planned = datetime.fromisoformat(f"{DAY}T08:30:00+00:00").astimezone().strftime("%H:%M")
    assert phone.detail.summary.startswith(f"Planned {planned}")
    phone.tap_action("on_my_way")
    phone.wait_synced()
    start = datetime.fromisoformat(f"{DAY}T09:10:00+00:00").astimezone().strftime("%H:%M")
    end = datetime.fromisoformat(f"{DAY}T09:40:00+00:00").astimezone().strftime("%H:%M")
    assert phone.detail.summary.startswith(f"ETA {start}–{end}")
    ui.tap(phone.detail.ids.back_button)
    row = phone.jobs_screen.rows()[0]
    assert (row.arrival_caption, row.arrival) == ("ETA", start)


def test_logout_with_nothing_pending_revokes_the_token_and_clears_the_phone(technician_app, stub, ui, tmp_path):
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    assert (tmp_path / "phone" / JOBS_FILE).exists()
    ui.tap(phone.jobs_screen.ids.logout_button)
    assert phone.current == "login"
    assert phone.jobs_screen.logout_popup is None
    ui.wait_until(lambda: TOKEN in stub.revoked, what="the token revoked on the server")
    assert not (tmp_path / "phone" / JOBS_FILE).exists()
    assert phone.app.board.jobs == []


def _pending_tap(phone: Any, stub: Any, ui: Any) -> None:
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(0)
    stub.fail_events(503, times=1000)
    phone.tap_action("on_my_way")
    ui.wait_until(lambda: phone.app.sync.last_error, what="a failed send")
    ui.tap(phone.detail.ids.back_button)


def test_logout_with_unsent_taps_asks_and_keeps_them(technician_app, stub, ui):
    phone = technician_app(stub.url)
    _pending_tap(phone, stub, ui)
    ui.tap(phone.jobs_screen.ids.logout_button)
    popup = phone.jobs_screen.logout_popup
    assert popup is not None
    assert popup.message.startswith("1 change(s) on this phone are not sent yet.")
    ui.tap(popup.ids.logout_cancel)
    assert phone.current == "jobs"
    assert phone.app.session.logged_in

    ui.tap(phone.jobs_screen.ids.logout_button)
    ui.tap(phone.jobs_screen.logout_popup.ids.logout_keep)
    assert phone.current == "login"
    ui.wait_until(lambda: TOKEN in stub.revoked, what="the token revoked")
    assert [e.action for e in phone.app.outbox.pending()] == ["on_my_way"]

    stub.event_faults.clear()
    phone.login(USERNAME, PASSWORD)
    phone.wait_synced()
    assert stub.seen  # sent after the next login
    assert phone.app.board.job(101)["status"] == "en_route"


def test_logout_can_discard_unsent_taps_when_confirmed(technician_app, stub, ui):
    phone = technician_app(stub.url)
    _pending_tap(phone, stub, ui)
    ui.tap(phone.jobs_screen.ids.logout_button)
    ui.tap(phone.jobs_screen.logout_popup.ids.logout_discard)
    assert phone.current == "login"
    assert phone.app.outbox.all() == []
    assert phone.app.sync.pending_count == 0


def test_a_350000_character_problem_opens_cut_and_expands_in_steps(technician_app, stub, ui):
    stub.change_job(102, problem="漏水 water leak. " * 25_000)  # 375,000 characters
    phone = technician_app(stub.url)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(1)
    ui.frames(2)
    problem = phone.detail.ids.problem.ids.clipped
    assert len(problem.full_text) == 375_000
    shown = len(problem.ids.text.text)
    assert shown <= 401
    assert problem.has_more
    longest = max(len(w.text) for w in phone.detail.walk() if hasattr(w, "text") and isinstance(w.text, str))
    assert longest < 1000  # no Label in the screen got the whole text
    ui.tap(problem.ids.more)
    assert shown < len(problem.ids.text.text) <= 3401
    ui.frames(2)


def test_call_and_navigate_use_the_phones_apps(technician_app, stub, ui):
    actions = RecordingActions()
    phone = technician_app(stub.url, actions=actions)
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    job = phone.open_job(0)
    ui.tap(phone.detail.ids.call_button)
    assert actions.opened == ["tel:+33612345678"]
    ui.tap(phone.detail.ids.navigate_button)
    amap, baidu = actions.tried[-2:]
    assert amap.startswith("androidamap://")
    assert baidu.startswith("baidumap://")
    assert actions.opened[-1] == baidu
    assert f"location={job['latitude']},{job['longitude']}" in baidu


def test_desktop_says_it_cannot_call(technician_app, stub, ui):
    phone = technician_app(stub.url, actions=PlatformActions("linux"))
    phone.login(USERNAME, PASSWORD)
    phone.wait_for_jobs(3)
    phone.open_job(0)
    ui.tap(phone.detail.ids.call_button)
    assert phone.detail.ids.message.text == "Call +33 6 12 34 56 78 from your phone."


def test_server_address_errors_and_is_remembered(technician_app, stub, ui):
    phone = technician_app("http://127.0.0.1:9")  # the --server default: nobody there
    screen = phone.login_screen
    assert screen.ids.server.text == "http://127.0.0.1:9"
    ui.type_into(screen.ids.server, "http://exa mple")
    phone.login(USERNAME, PASSWORD, expect_success=False)
    assert screen.error.startswith("Enter the server address")
    ui.type_into(screen.ids.server, "http://127.0.0.1:9")
    phone.login(USERNAME, PASSWORD, expect_success=False)
    assert screen.error.startswith("Cannot reach the server at http://127.0.0.1:9.")
    ui.type_into(screen.ids.server, stub.url + "/")
    phone.login(USERNAME, "wrong", expect_success=False)
    assert screen.error == "Wrong username or password."
    ui.type_into(screen.ids.server, stub.url)
    phone.login(USERNAME, PASSWORD)
    ui.tap(phone.jobs_screen.ids.logout_button)
    ui.stop(phone.app)

    again = technician_app("http://127.0.0.1:9")
    assert again.login_screen.ids.server.text == stub.url  # the address that worked wins
    again.login(USERNAME, PASSWORD)
    again.wait_for_jobs(3)
