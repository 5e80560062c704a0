"""ApiClient against the loopback stub: success shapes and how failures are classified."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mobile.services.api_client import ApiClient, AuthError, RejectedError, TransientError
from tests.mobile.stub_server import PASSWORD, TECHNICIAN, TOKEN, USERNAME, StubServer

EVENT = {
    "client_event_id": "a" * 32,
    "work_order_id": 101,
    "action": "on_my_way",
    "device_time": "2026-11-23T08:01:00+01:00",
    "latitude": 48.85,
    "longitude": 2.35,
}


def test_login_returns_token_and_technician(stub):
    body = ApiClient(stub.url).login(username=USERNAME, password=PASSWORD)
    assert body == {"token": TOKEN, "technician": TECHNICIAN}
    assert stub.requests_to("/api/auth/token")[0].headers["content-type"] == "application/json"


def test_login_401_carries_the_server_message(stub):
    with pytest.raises(AuthError) as caught:
        ApiClient(stub.url).login(username=USERNAME, password="wrong")
    assert caught.value.message == "Wrong username or password."
    assert caught.value.status == 401


def test_jobs_sends_bearer_token(stub):
    body = ApiClient(stub.url + "/", token=TOKEN).jobs()
    assert [j["route_position"] for j in body["jobs"]] == [1, 2, 3]
    assert stub.requests_to("/api/mobile/jobs")[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_no_token_is_an_auth_error_without_a_request(stub):
    with pytest.raises(AuthError):
        ApiClient(stub.url).jobs()
    assert stub.requests == []


def test_json_goes_as_utf8_not_escapes(stub):
    """Chinese text in 3 bytes a character, not 6-byte \\u escapes: a batch of finish forms stays
    under the server's body limit, and a day's sync costs half the data."""
    client = ApiClient(stub.url, token=TOKEN)
    client.send_event(
        {
            "client_event_id": "utf8",
            "work_order_id": 101,
            "action": "on_my_way",
            "device_time": "2026-11-22T09:00:00+00:00",
            "note": "门禁密码 1234",
        }
    )
    [sent] = stub.requests_to("/api/mobile/events")
    assert "门禁密码".encode() in sent.raw
    assert b"\\u" not in sent.raw
    assert sent.body is not None
    assert sent.body["note"] == "门禁密码 1234"


def test_send_event_and_duplicate(stub):
    client = ApiClient(stub.url, token=TOKEN)
    first = client.send_event(EVENT)
    again = client.send_event(EVENT)
    assert (first["duplicate"], first["job"]["status"]) == (False, "en_route")
    assert (again["duplicate"], again["job"]) == (True, first["job"])
    assert stub.events == [EVENT, EVENT]


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_permanent_refusals_are_rejected(stub, status):
    stub.fail_events(status, "No can do.")
    with pytest.raises(RejectedError) as caught:
        ApiClient(stub.url, token=TOKEN).send_event(EVENT)
    assert (caught.value.status, caught.value.message) == (status, "No can do.")
    assert caught.value.extra == {"work_order_id": 101}


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_server_trouble_is_transient(stub, status):
    stub.fail_events(status)
    with pytest.raises(TransientError) as caught:
        ApiClient(stub.url, token=TOKEN).send_event(EVENT)
    assert caught.value.status == status


def test_conflict_from_the_state_machine_is_rejected(stub):
    client = ApiClient(stub.url, token=TOKEN)
    with pytest.raises(RejectedError) as caught:
        client.send_event(dict(EVENT, action="done"))
    assert caught.value.status == 409
    assert caught.value.extra == {"status": "scheduled"}


def test_refused_connection_is_transient():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientError, match="unreachable"):
        ApiClient(f"http://127.0.0.1:{port}", token=TOKEN, timeout=2).jobs()


def test_lost_response_is_transient(stub):
    stub.drop_event_responses()
    with pytest.raises(TransientError):
        ApiClient(stub.url, token=TOKEN).send_event(EVENT)
    assert stub.seen[EVENT["client_event_id"]]["status"] == "en_route"  # it did happen


def test_timeout_is_transient(stub):
    stub.event_delay_s = 2.0
    started = time.monotonic()
    with pytest.raises(TransientError):
        ApiClient(stub.url, token=TOKEN, timeout=0.2).send_event(EVENT)
    assert time.monotonic() - started < 1.5


@pytest.fixture
def raw_server() -> Iterator[tuple[str, list[tuple[int, bytes, str]]]]:
    """Answers GETs with whatever (status, body, content type) is queued."""
    answers: list[tuple[int, bytes, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            status, body, ctype = answers.pop(0)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answers
    server.shutdown()
    server.server_close()


def test_html_error_page_from_a_proxy_is_transient(raw_server):
    url, answers = raw_server
    answers.append((502, b"<html>Bad gateway</html>", "text/html"))
    with pytest.raises(TransientError, match="HTTP 502"):
        ApiClient(url, token=TOKEN).jobs()


def test_captive_portal_200_html_is_transient(raw_server):
    url, answers = raw_server
    answers.append((200, b"<html>Log in to the hotel wifi</html>", "text/html"))
    with pytest.raises(TransientError, match="Unreadable"):
        ApiClient(url, token=TOKEN).jobs()


def test_wrong_json_shape_is_transient(raw_server):
    url, answers = raw_server
    answers.append((200, json.dumps({"jobs": "nope"}).encode(), "application/json"))
    with pytest.raises(TransientError, match="Unexpected job list"):
        ApiClient(url, token=TOKEN).jobs()


def test_unknown_4xx_without_body_is_rejected_with_a_readable_message(raw_server):
    url, answers = raw_server
    answers.append((410, b"", "text/plain"))
    with pytest.raises(RejectedError, match="HTTP 410"):
        ApiClient(url, token=TOKEN).jobs()


def test_stub_is_fresh_per_test(stub: StubServer):
    assert stub.requests == []
    assert len(stub.jobs) == 3


def test_job_list_etag_and_304(stub):
    client = ApiClient(stub.url, token=TOKEN)
    first = client.jobs_if_changed(None)
    assert first.changed
    assert first.etag == stub.etag()
    again = client.jobs_if_changed(first.etag)
    assert not again.changed
    assert again.body is None
    assert stub.requests_to("/api/mobile/jobs")[-1].headers["if-none-match"] == first.etag
    stub.change_job(101, address="8 avenue Foch")
    changed = client.jobs_if_changed(first.etag)
    assert changed.changed
    assert changed.etag != first.etag


def test_every_request_says_the_apps_language(stub):
    from mobile import i18n

    client = ApiClient(stub.url, token=TOKEN)
    client.jobs()
    try:
        i18n.set_language("zh-CN")
        body = client.jobs()
    finally:
        i18n.set_language("en")
    first, second = stub.requests_to("/api/mobile/jobs")
    assert (first.headers["accept-language"], second.headers["accept-language"]) == ("en", "zh-CN")
    assert body["jobs"][0]["status_label"] == "已排期"  # the stub localises like the server


def test_logout_revokes_the_token(stub):
    client = ApiClient(stub.url, token=TOKEN)
    client.logout()
    with pytest.raises(AuthError):
        client.jobs()


def test_location_report(stub):
    client = ApiClient(stub.url, token=TOKEN)
    report = {
        "client_event_id": "b" * 32,
        "device_time": "2026-11-23T08:01:00+01:00",
        "latitude": 1.0,
        "longitude": 2.0,
    }
    assert client.send_location(report) == {"duplicate": False, "accepted": True}
    assert client.send_location(report)["duplicate"] is True
    assert stub.locations == [report]


def test_photo_offset_mismatch_is_a_409_with_the_servers_offset(stub):
    import hashlib

    client = ApiClient(stub.url, token=TOKEN)
    data = b"\xff\xd8" + b"j" * 1000
    photo_id = "c" * 32
    start = client.photo_start(
        {
            "client_photo_id": photo_id,
            "work_order_id": 101,
            "filename": "a.jpg",
            "content_type": "image/jpeg",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    )
    assert (start["received"], start["complete"]) == (0, False)
    assert client.photo_put(photo_id, 0, data[:400]) == {"received": 400, "complete": False}
    with pytest.raises(RejectedError) as caught:
        client.photo_put(photo_id, 0, data[:400])
    assert (caught.value.status, caught.value.extra["received"]) == (409, 400)
    assert client.photo_put(photo_id, 400, data[400:]) == {"received": len(data), "complete": True}
    assert stub.requests_to(f"/api/mobile/photos/{photo_id}/content?offset=400")[0].headers["content-type"] == (
        "application/octet-stream"
    )
