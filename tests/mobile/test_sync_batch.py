"""The sync engine sends a backlog in batches: each event settled by its own result, a batch
refused as a whole settles its head alone, an older server without batches gets single events.
The engine runs for real (worker threads, Kivy's Clock); the server is a scripted fake."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import pytest

from mobile.services.api_client import RejectedError, TransientError
from mobile.services.location import NoLocation
from mobile.services.outbox import Outbox, Owner
from mobile.sync import BATCH_EVENTS, Backoff, SyncEngine

pytestmark = pytest.mark.ui


def _job(event: dict[str, Any]) -> dict[str, Any]:
    return {"id": event["work_order_id"], "status": "en_route"}


class FakeServer:
    """Answers like the server: every event applied unless scripted otherwise."""

    def __init__(self, *, batches: bool = True) -> None:
        self.token = "t"
        self.batches = batches
        self.calls: list[tuple[str, list[str]]] = []  # (endpoint, client event ids)
        self.refuse: dict[str, tuple[int, str]] = {}  # client event id -> (status, message)
        self.whole_batch: deque[BaseException] = deque()  # raised by the next batch calls
        self.poison: dict[str, tuple[int, str]] = {}  # a batch holding this id fails 500; alone: refused
        self.lock = threading.Lock()

    def send_batch(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(("batch", [e["client_event_id"] for e in events]))
            if not self.batches:
                raise RejectedError("No route", status=404)
            if self.whole_batch:
                raise self.whole_batch.popleft()
            if any(e["client_event_id"] in self.poison for e in events):
                raise TransientError("Internal server error", status=500)
        results = []
        for event in events:
            status, message = self.refuse.get(event["client_event_id"], (200, ""))
            results.append({"client_event_id": event["client_event_id"], "status": status, "message": message})
        jobs = [_job(e) for e in events if e["type"] == "tap"]
        return {"results": results, "jobs": jobs}

    def send_event(self, event: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(("event", [event["client_event_id"]]))
        if event["client_event_id"] in self.poison:
            status, message = self.poison[event["client_event_id"]]
            raise RejectedError(message, status=status)
        if event["client_event_id"] in self.refuse:
            status, message = self.refuse[event["client_event_id"]]
            raise RejectedError(message, status=status)
        return {"duplicate": False, "job": _job(event)}

    def send_location(self, report: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(("location", [report["client_event_id"]]))
        return {"duplicate": False, "accepted": True}


@pytest.fixture
def engine(tmp_path, ui):
    def make(server: FakeServer) -> tuple[SyncEngine, Outbox]:
        outbox = Outbox(str(tmp_path / "outbox.sqlite3"))
        sync = SyncEngine(
            api=server,  # type: ignore[arg-type]
            outbox=outbox,
            location=NoLocation(),
            backoff=Backoff(first=0.05, maximum=0.2),
        )
        sync.set_owner(Owner("http://fake", 7, "Li Wei"))  # nothing is sent without one
        return sync, outbox

    return make


def _queue(sync: SyncEngine, outbox: Outbox, n: int) -> list[str]:
    """``n`` events as the screens queue them (taps for two jobs, every third a position)."""
    ids = []
    for i in range(n):
        if i % 3 == 2:
            event = outbox.add_location(latitude=31.2, longitude=121.4, work_order_id=7)
        else:
            event = outbox.add(work_order_id=7 + i % 2, action="on_my_way")
        ids.append(event.client_event_id)
    sync.recount()
    return ids


def test_a_backlog_goes_in_batches_in_order(engine, ui):
    server = FakeServer()
    sync, outbox = engine(server)
    ids = _queue(sync, outbox, BATCH_EVENTS + 20)
    jobs: list[dict[str, Any]] = []
    sync.bind(on_job=lambda _s, job: jobs.append(job))
    sync.sync_now()
    ui.wait_until(lambda: sync.idle, what="the backlog sent")
    assert [endpoint for endpoint, _ in server.calls] == ["batch", "batch"]
    assert [cid for _, sent in server.calls for cid in sent] == ids
    assert [len(sent) for _, sent in server.calls] == [BATCH_EVENTS, 20]
    assert outbox.pending() == []
    assert {job["id"] for job in jobs} == {7, 8}


def test_a_refused_event_in_a_batch_is_kept_with_its_reason_and_the_rest_sent(engine, ui):
    server = FakeServer()
    sync, outbox = engine(server)
    ids = _queue(sync, outbox, 6)
    server.refuse[ids[1]] = (404, "Work order 8 does not exist")  # a tap: reassigned meanwhile
    server.refuse[ids[3]] = (409, "Cannot go from completed to en_route")
    server.refuse[ids[2]] = (422, "The phone's clock is ahead")  # a position: dropped, not shown
    refused: list[str] = []
    sync.bind(on_rejected=lambda _s, event, message: refused.append(message))
    sync.sync_now()
    ui.wait_until(lambda: sync.idle, what="the batch settled")
    assert len(server.calls) == 1
    kept = outbox.rejected()
    assert [e.client_event_id for e in kept] == [ids[1], ids[3]]
    assert "no longer assigned to you" in kept[0].last_error
    assert kept[1].last_error == "Cannot go from completed to en_route"
    assert refused == [kept[0].last_error, kept[1].last_error]
    assert sync.rejected_count == 2
    assert outbox.pending() == []


def test_a_batch_refused_whole_sends_its_head_alone_then_batches_again(engine, ui):
    server = FakeServer()
    sync, outbox = engine(server)
    ids = _queue(sync, outbox, 5)
    server.whole_batch.append(RejectedError("Request body too large", status=413))
    server.refuse[ids[0]] = (422, "device_time must include a UTC offset")
    sync.sync_now()
    ui.wait_until(lambda: sync.idle, what="the outbox settled")
    assert server.calls == [("batch", ids), ("event", [ids[0]]), ("batch", ids[1:])]
    assert [e.client_event_id for e in outbox.rejected()] == [ids[0]]


def test_no_network_keeps_the_batch_and_retries_it(engine, ui):
    server = FakeServer()
    sync, outbox = engine(server)
    ids = _queue(sync, outbox, 4)
    server.whole_batch.extend([TransientError("Server unreachable"), TransientError("Server unreachable")])
    sync.sync_now()
    ui.wait_until(lambda: sync.idle, timeout=10, what="sent after the retries")
    assert server.calls == [("batch", ids)] * 3
    assert outbox.pending() == []
    assert outbox.rejected() == []


def test_a_server_without_batches_gets_single_events(engine, ui):
    server = FakeServer(batches=False)
    sync, outbox = engine(server)
    ids = _queue(sync, outbox, 4)
    sync.sync_now()
    ui.wait_until(lambda: sync.idle, what="sent one by one")
    assert server.calls[0] == ("batch", ids)
    assert server.calls[1:] == [
        ("event", [ids[0]]),
        ("event", [ids[1]]),
        ("location", [ids[2]]),
        ("event", [ids[3]]),
    ]
    _queue(sync, outbox, 3)
    sync.sync_now()
    ui.wait_until(lambda: sync.idle, what="sent one by one")
    assert [endpoint for endpoint, _ in server.calls].count("batch") == 1  # asked once


def test_a_batch_failing_with_5xx_three_times_goes_event_by_event_then_batches_again(engine, ui):
    server = FakeServer()
    sync, outbox = engine(server)
    ids = _queue(sync, outbox, 5)
    server.poison[ids[1]] = (422, "Unknown part code")  # breaks the batch endpoint, refused alone
    sync.sync_now()
    ui.wait_until(lambda: sync.idle, what="the outbox settled")
    assert server.calls == [
        ("batch", ids),
        ("batch", ids),
        ("batch", ids),
        ("event", [ids[0]]),
        ("event", [ids[1]]),
        ("location", [ids[2]]),
        ("event", [ids[3]]),
        ("event", [ids[4]]),
    ]
    assert [e.client_event_id for e in outbox.rejected()] == [ids[1]]
    more = _queue(sync, outbox, 3)
    sync.sync_now()
    ui.wait_until(lambda: sync.idle, what="the next backlog sent")
    assert server.calls[-1] == ("batch", more)


def test_no_network_keeps_retrying_the_batch_whole(engine, ui):
    """Only 5xx answers count towards going event by event: a phone without signal keeps its batch."""
    server = FakeServer()
    sync, outbox = engine(server)
    ids = _queue(sync, outbox, 4)
    server.whole_batch.extend([TransientError("Server unreachable")] * 4)
    sync.sync_now()
    ui.wait_until(lambda: sync.idle, timeout=10, what="sent after the retries")
    assert server.calls == [("batch", ids)] * 5


def test_only_the_current_owners_events_are_sent(engine, ui):
    server = FakeServer()
    sync, outbox = engine(server)
    theirs = _queue(sync, outbox, 3)  # Li Wei's (the fixture's owner)
    sync.set_owner(Owner("http://fake", 8, "Zhang Wei"))
    mine = _queue(sync, outbox, 2)
    sync.sync_now()
    ui.wait_until(lambda: sync.idle, what="Zhang Wei's events sent")
    assert [cid for _, sent in server.calls for cid in sent] == mine
    assert sync.pending_count == 0
    assert sync.others_waiting == [("Li Wei", 3)]
    sync.set_owner(None)
    sync.sync_now()
    ui.pump_for(0.3)
    assert [cid for _, sent in server.calls for cid in sent] == mine  # nobody logged in: nothing goes
    sync.set_owner(Owner("http://fake/", 7, "Li Wei"))
    sync.sync_now()
    ui.wait_until(lambda: sync.idle, what="Li Wei's events sent")
    assert [cid for _, sent in server.calls for cid in sent] == mine + theirs
    assert sync.others_waiting == []
