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
