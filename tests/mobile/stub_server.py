"""A loopback stand-in for the Fixroute mobile API (only what the app calls).

It follows the documented contract (login, job list, events with client ids and
duplicates, ``{"message", "extra"}`` errors) and can be told to misbehave:
``fail_events(503)``, ``fail_events(409, "...")``, ``drop_event_responses()`` (the event
is applied, then the connection closes with no answer), ``stop()`` / ``start()``.

Also: ``ETag`` / ``If-None-Match`` on the job list (304 when unchanged), logout (the
token stops working), location reports, and resumable photo uploads with
``lose_photo_chunk()`` (a chunk "arrives" short: the next PUT gets 409 with the offset
the server really has) and ``corrupt_photo()`` (a 422 checksum mismatch).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
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
# A second technician sharing the phone (same job list in this stub).
USERNAME2 = "zwei"
PASSWORD2 = "secret2"
TOKEN2 = "tok-zhang-wei"
TECHNICIAN2 = {"id": 8, "name": "张伟"}
ACCOUNTS = {USERNAME: (PASSWORD, TOKEN, TECHNICIAN), USERNAME2: (PASSWORD2, TOKEN2, TECHNICIAN2)}
DAY = "2026-11-23"

# status -> (label, allowed actions); action -> (from status, to status)
STATUSES = {
    "scheduled": ("Scheduled", ["on_my_way"]),
    "en_route": ("En route", ["arrived", "could_not_complete"]),
    "on_site": ("On site", ["done", "could_not_complete"]),
    "on_hold": ("On hold", []),
    "completed": ("Completed", []),
    "cancelled": ("Cancelled", []),
}
STATUSES_ZH = {
    "scheduled": "已排期",
    "en_route": "在途中",
    "on_site": "在现场",
    "on_hold": "暂停",
    "completed": "已完成",
    "cancelled": "已取消",
}
TRANSITIONS = {
    "on_my_way": (("scheduled",), "en_route"),
    "arrived": (("en_route",), "on_site"),
    "done": (("on_site",), "completed"),
    "could_not_complete": (("en_route", "on_site"), "on_hold"),
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
    priority: str = "normal",
    complaint: bool = False,
) -> dict[str, Any]:
    label, allowed = STATUSES[status]
    hour = int(arrival[:2])
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
        "access_notes": "",
        "priority": priority,
        "complaint": complaint,
        "equipment": equipment,
        "planned_arrival": f"{DAY}T{arrival}:00+00:00",
        "route_position": route_position,
        "promised_start": f"{DAY}T{hour:02d}:00:00+00:00",
        "promised_end": f"{DAY}T{hour + 2:02d}:00:00+00:00",
        "eta_start": None,
        "eta_end": None,
        "allowed_actions": list(allowed),
        "history": [{"at": f"{DAY}T06:00:00+00:00", "kind": "scheduled", "text": "Planned by dispatch"}],
        "site_visits": [],
        "resolution": "",
        "parts": [],
        "photos": [],
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
    raw: bytes = b""  # the body's bytes as sent


@dataclass
class StubServer:
    jobs: dict[int, dict[str, Any]] = field(default_factory=lambda: {j["id"]: j for j in sample_jobs()})
    requests: list[Received] = field(default_factory=list)
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)  # client id -> job
    event_faults: deque[tuple[str, int, str]] = field(default_factory=deque)
    jobs_status: int = 200
    revoked: set[str] = field(default_factory=set)  # tokens logged out
    locations: list[dict[str, Any]] = field(default_factory=list)  # accepted location bodies
    photos: dict[str, dict[str, Any]] = field(default_factory=dict)  # client_photo_id -> state
    photo_faults: deque[str] = field(default_factory=deque)  # "lose" / "corrupt", per PUT
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

    def lose_photo_chunk(self, times: int = 1) -> None:
        """The next PUT is answered 200, but only half of its bytes are kept."""
        for _ in range(times):
            self.photo_faults.append("lose")

    def corrupt_photo(self, times: int = 1) -> None:
        """The next PUT's bytes are altered: the checksum check fails at the end (422)."""
        for _ in range(times):
            self.photo_faults.append("corrupt")

    def change_job(self, job_id: int, **fields: Any) -> None:
        """The office edits a job (the next poll sees a new ETag)."""
        with self.lock:
            self.jobs[job_id].update(fields)

    def add_job(self, job: dict[str, Any]) -> None:
        with self.lock:
            self.jobs[job["id"]] = job

    def withdraw_job(self, job_id: int) -> None:
        with self.lock:
            self.jobs.pop(job_id)

    def etag(self) -> str:
        with self.lock:
            text = json.dumps(sorted(self.jobs.items()), sort_keys=True, default=str)
        return '"' + hashlib.sha256(text.encode()).hexdigest()[:16] + '"'

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
        self, method: str, path: str, headers: dict[str, str], body: Any, raw: bytes = b""
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        """Returns (status, body, extra headers); body None means: drop the connection,
        no answer (or, with 304/204, no body)."""
        with self.lock:
            self.requests.append(Received(method, path, headers, body if isinstance(body, dict) else None, raw))
        if (method, path) == ("POST", "/api/auth/token"):
            password, token, technician = ACCOUNTS.get((body or {}).get("username"), (None, "", {}))
            if password is not None and body.get("password") == password:
                self.revoked.discard(token)
                return 200, {"token": token, "technician": dict(technician)}, {}
            return 401, {"message": "Wrong username or password.", "extra": {}}, {}
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token not in (TOKEN, TOKEN2) or token in self.revoked:
            return 401, {"message": "Invalid or expired token.", "extra": {}}, {}
        if (method, path) == ("POST", "/api/auth/logout"):
            self.revoked.add(token)
            return 204, None, {}
        if (method, path) == ("GET", "/api/mobile/jobs"):
            if self.jobs_status != 200:
                return self.jobs_status, {"message": "Jobs unavailable.", "extra": {}}, {}
            etag = self.etag()
            if headers.get("if-none-match") == etag:
                return 304, None, {"ETag": etag}
            chinese = headers.get("accept-language", "").startswith("zh")
            with self.lock:
                jobs = sorted(copy.deepcopy(list(self.jobs.values())), key=lambda j: j["route_position"])
            if chinese:
                for job in jobs:
                    job["status_label"] = STATUSES_ZH[job["status"]]
            technician = TECHNICIAN2 if token == TOKEN2 else TECHNICIAN
            return 200, {"technician": dict(technician), "day": DAY, "jobs": jobs}, {"ETag": etag}
        if (method, path) == ("POST", "/api/mobile/events"):
            status, answer = self._event(body or {})
            return status, answer, {}
        if (method, path) == ("POST", "/api/mobile/location"):
            with self.lock:
                duplicate = any(r["client_event_id"] == body.get("client_event_id") for r in self.locations)
                if not duplicate:
                    self.locations.append(body)
            return 200, {"duplicate": duplicate, "accepted": True}, {}
        if (method, path) == ("POST", "/api/mobile/photos"):
            return (*self._photo_start(body or {}), {})
        match = re.fullmatch(r"/api/mobile/photos/([0-9a-f]+)/content\?offset=(\d+)", path)
        if method == "PUT" and match:
            return (*self._photo_put(match.group(1), int(match.group(2)), raw), {})
        return 404, {"message": f"No route {method} {path}", "extra": {}}, {}

    def _photo_start(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            photo = self.photos.setdefault(body["client_photo_id"], {**body, "data": b"", "complete": False})
            photo.update(sha256=body["sha256"], size=body["size"])
            return 200, {
                "client_photo_id": body["client_photo_id"],
                "received": len(photo["data"]),
                "complete": photo["complete"],
            }

    def _photo_put(self, photo_id: str, offset: int, data: bytes) -> tuple[int, dict[str, Any]]:
        with self.lock:
            photo = self.photos.get(photo_id)
            if photo is None:
                return 404, {"message": "Unknown photo.", "extra": {}}
            if offset != len(photo["data"]):
                return 409, {"message": "Offset mismatch.", "extra": {"received": len(photo["data"])}}
            fault = self.photo_faults.popleft() if self.photo_faults else None
            if fault == "lose":
                data = data[: len(data) // 2]
            elif fault == "corrupt":
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            photo["data"] += data
            if len(photo["data"]) >= photo["size"]:
                if hashlib.sha256(photo["data"]).hexdigest() != photo["sha256"]:
                    photo["data"] = b""
                    return 422, {"message": "Checksum mismatch.", "extra": {}}
                photo["complete"] = True
            received = len(photo["data"]) if fault != "lose" else offset + len(data) * 2
            return 200, {"received": min(received, photo["size"]), "complete": photo["complete"]}

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
            sources, target = TRANSITIONS.get(body.get("action"), ((), None))
            if job["status"] not in sources or target is None:
                return 409, {
                    "message": f"Cannot do '{body.get('action')}' on a job that is {job['status_label'].lower()}.",
                    "extra": {"status": job["status"]},
                }
            label, allowed = STATUSES[target]
            job.update(status=target, status_label=label, allowed_actions=list(allowed))
            if target == "en_route":
                job.update(eta_start=f"{DAY}T09:10:00+00:00", eta_end=f"{DAY}T09:40:00+00:00")
            else:
                job.update(eta_start=None, eta_end=None)
            if body.get("action") == "done":
                job.update(resolution=body.get("resolution", ""), parts=body.get("parts", []))
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

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = None
        if self.headers.get("Content-Type") == "application/json":
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, answer, extra_headers = self.server_stub.handle(method, self.path, headers, body, raw)
        if answer is None and status not in (204, 304):  # the response is "lost": close without a word
            self.close_connection = True
            return
        data = json.dumps(answer).encode() if answer is not None else b""
        self.send_response(status)
        for name, value in extra_headers.items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def log_message(self, *_args: Any) -> None:
        pass
