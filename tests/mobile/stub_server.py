"""A loopback stand-in for the Fixroute mobile API (only what the app calls).

It follows the documented contract (login, job list, events with client ids and
duplicates, ``{"message", "extra"}`` errors) and can be told to misbehave:
``fail_events(503)``, ``fail_events(409, "...")``, ``drop_event_responses()`` (the event
is applied, then the connection closes with no answer), ``stop()`` / ``start()``.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USERNAME = "lwei"
PASSWORD = "secret"
TOKEN = "tok-li-wei"
TECHNICIAN = {"id": 7, "name": "Li Wei"}
DAY = "2026-11-23"

# status -> (label, allowed actions); action -> (from status, to status)
STATUSES = {
    "scheduled": ("Scheduled", ["on_my_way"]),
    "en_route": ("En route", ["arrived"]),
    "on_site": ("On site", ["done"]),
    "completed": ("Completed", []),
    "cancelled": ("Cancelled", []),
}
TRANSITIONS = {
    "on_my_way": ("scheduled", "en_route"),
    "arrived": ("en_route", "on_site"),
    "done": ("on_site", "completed"),
}


def make_job(
    job_id: int,
    route_position: int,
    customer: str,
    address: str,
    arrival: str,
    *,
    status: str = "scheduled",
    problem: str = "Boiler shows error E119",
    equipment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    label, allowed = STATUSES[status]
    return {
        "id": job_id,
        "reference": f"WO-{job_id:06d}",
        "status": status,
        "status_label": label,
        "customer_name": customer,
        "customer_phone": "+33 6 12 34 56 78",
        "address": address,
        "latitude": 48.85 + job_id / 1000,
        "longitude": 2.35,
        "problem": problem,
        "priority": "normal",
        "equipment": equipment,
        "planned_arrival": f"{DAY}T{arrival}:00+00:00",
        "route_position": route_position,
        "allowed_actions": list(allowed),
        "history": [{"at": f"{DAY}T06:00:00+00:00", "kind": "scheduled", "text": "Planned by dispatch"}],
    }


def sample_jobs() -> list[dict[str, Any]]:
    """Three jobs; ids deliberately not in route order."""
    return [
        make_job(103, 3, "Boulangerie Martin", "12 rue de Rivoli, 75004 Paris", "14:30"),
        make_job(
            101,
            1,
            "Mme Dupont",
            "5 avenue Foch, 75116 Paris",
            "08:30",
            equipment={"type": "Gas boiler", "model": "Vaillant ecoTEC plus", "install_date": "2019-04-02"},
        ),
        make_job(
            102,
            2,
            "Hôtel du Parc",
            "40 boulevard Haussmann, 75009 Paris",
            "10:15",
            problem="No hot water on floors 3-5",
            equipment=None,
        ),
    ]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class StubServer:
    jobs: dict[int, dict[str, Any]] = field(default_factory=lambda: {j["id"]: j for j in sample_jobs()})
    requests: list[Received] = field(default_factory=list)
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)  # client id -> job
    event_faults: deque[tuple[str, int, str]] = field(default_factory=deque)
    jobs_status: int = 200
    event_delay_s: float = 0.0
    gate: threading.Event = field(default_factory=threading.Event)  # set: events flow
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StubServer:
        stub = self
        self.gate.set()

        class Handler(_Handler):
            server_stub = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Nobody listens on the port any more (connection refused), until start()."""
        self.gate.set()  # let held requests finish
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def hold_events(self) -> None:
        """Event requests wait (in flight) until ``release_events()``."""
        self.gate.clear()

    def release_events(self) -> None:
        self.gate.set()

    def fail_events(self, status: int, message: str = "", times: int = 1) -> None:
        for _ in range(times):
            self.event_faults.append(("status", status, message))

    def drop_event_responses(self, times: int = 1) -> None:
        for _ in range(times):
            self.event_faults.append(("drop", 0, ""))

    @property
    def events(self) -> list[dict[str, Any]]:
        """Bodies of every POST /api/mobile/events received, resends included."""
        with self.lock:
            return [r.body for r in self.requests if r.path == "/api/mobile/events" and r.body is not None]

    def requests_to(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    # -- the API -----------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any] | None]:
        """Returns (status, body); body None means: drop the connection, no answer."""
        with self.lock:
            self.requests.append(Received(method, path, headers, body))
        if (method, path) == ("POST", "/api/auth/token"):
            if body and body.get("username") == USERNAME and body.get("password") == PASSWORD:
                return 200, {"token": TOKEN, "technician": dict(TECHNICIAN)}
            return 401, {"message": "Wrong username or password.", "extra": {}}
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, {"message": "Invalid or expired token.", "extra": {}}
        if (method, path) == ("GET", "/api/mobile/jobs"):
            if self.jobs_status != 200:
                return self.jobs_status, {"message": "Jobs unavailable.", "extra": {}}
            with self.lock:
                jobs = sorted(copy.deepcopy(list(self.jobs.values())), key=lambda j: j["route_position"])
            return 200, {"technician": dict(TECHNICIAN), "day": DAY, "jobs": jobs}
        if (method, path) == ("POST", "/api/mobile/events"):
            return self._event(body or {})
        return 404, {"message": f"No route {method} {path}", "extra": {}}

    def _event(self, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        if self.event_delay_s:
            time.sleep(self.event_delay_s)
        self.gate.wait(timeout=30)
        fault = self.event_faults.popleft() if self.event_faults else None
        if fault and fault[0] == "status":
            return fault[1], {
                "message": fault[2] or f"Stub error {fault[1]}",
                "extra": {"work_order_id": body.get("work_order_id")},
            }
        with self.lock:
            client_id = body.get("client_event_id")
            if client_id in self.seen:
                return 200, {"duplicate": True, "job": copy.deepcopy(self.seen[client_id])}
            job = self.jobs.get(body.get("work_order_id"))
            if job is None:
                return 404, {"message": "Work order not found.", "extra": {}}
            source, target = TRANSITIONS.get(body.get("action"), (None, None))
            if job["status"] != source:
                return 409, {
                    "message": f"Cannot do '{body.get('action')}' on a job that is {job['status_label'].lower()}.",
                    "extra": {"status": job["status"]},
                }
            label, allowed = STATUSES[target]
            job.update(status=target, status_label=label, allowed_actions=list(allowed))
            job["history"].append({"at": body.get("device_time"), "kind": target, "text": f"{label} (by technician)"})
            self.seen[client_id] = copy.deepcopy(job)
            answer = {"duplicate": False, "job": copy.deepcopy(job)}
        if fault and fault[0] == "drop":
            return 200, None
        return 200, answer


class _Handler(BaseHTTPRequestHandler):
    server_stub: StubServer
    protocol_version = "HTTP/1.1"

    # do_GET / do_POST: http.server's naming
    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, answer = self.server_stub.handle(method, self.path, headers, body)
        if answer is None:  # the response is "lost": close without a word
            self.close_connection = True
            return
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def log_message(self, *_args: Any) -> None:
        pass
