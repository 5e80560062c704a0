"""DeviceStore: session and job cache files, atomic and forgiving."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from mobile.services.store import JOBS_FILE, SESSION_FILE, DeviceStore

SERVER = "http://127.0.0.1:8000"
TECH = {"id": 7, "name": "Li Wei"}


def test_session_roundtrip_per_server(tmp_path):
    store = DeviceStore(str(tmp_path))
    assert store.load_session(SERVER) is None
    store.save_session(server_url=SERVER, token="tok", technician=TECH, username="lwei")

    saved = DeviceStore(str(tmp_path)).load_session(SERVER)
    assert saved is not None
    assert (saved.token, saved.technician_id, saved.technician_name) == ("tok", 7, "Li Wei")
    assert store.load_session("https://other.example") is None


def test_clear_session_keeps_the_username(tmp_path):
    store = DeviceStore(str(tmp_path))
    store.save_session(server_url=SERVER, token="tok", technician=TECH, username="lwei")
    store.clear_session()
    assert store.load_session(SERVER) is None
    assert store.last_username() == "lwei"
    assert "tok" not in (tmp_path / SESSION_FILE).read_text()


def test_jobs_cache_roundtrip_and_replace_one_job(tmp_path):
    store = DeviceStore(str(tmp_path))
    when = datetime(2026, 11, 23, 7, 45, tzinfo=UTC)
    payload = {"day": "2026-11-23", "jobs": [{"id": 1, "status": "scheduled"}, {"id": 2, "status": "scheduled"}]}
    store.save_jobs(payload, fetched_at=when)
    store.replace_job({"id": 2, "status": "en_route"})

    cached = DeviceStore(str(tmp_path)).load_jobs()
    assert cached is not None
    assert cached.fetched_at == when
    assert [j["status"] for j in cached.payload["jobs"]] == ["scheduled", "en_route"]
    assert cached.payload["day"] == "2026-11-23"

    store.clear_jobs()
    assert store.load_jobs() is None
    store.clear_jobs()  # twice is fine


def test_unreadable_files_read_as_nothing(tmp_path):
    (tmp_path / SESSION_FILE).write_text("{half a json")
    (tmp_path / JOBS_FILE).write_text(json.dumps({"fetched_at": "yesterday", "payload": {}}))
    store = DeviceStore(str(tmp_path))
    assert store.load_session(SERVER) is None
    assert store.load_jobs() is None
    assert store.last_username() == ""


def test_writes_leave_no_temp_files(tmp_path):
    store = DeviceStore(str(tmp_path / "new" / "dir"))
    store.save_session(server_url=SERVER, token="tok", technician=TECH)
    store.save_jobs({"jobs": []})
    assert sorted(os.listdir(tmp_path / "new" / "dir")) == [JOBS_FILE, SESSION_FILE]


def test_non_ascii_survives(tmp_path):
    store = DeviceStore(str(tmp_path))
    store.save_jobs({"jobs": [{"id": 1, "customer_name": "王芳 · Hôtel du Parc"}]})
    assert store.load_jobs().payload["jobs"][0]["customer_name"] == "王芳 · Hôtel du Parc"


def test_the_last_server_is_remembered_after_logout(tmp_path):
    store = DeviceStore(str(tmp_path))
    assert store.last_server() == ""
    store.save_session(server_url="https://fixroute.example", token="tok", technician=TECH, username="lwei")
    store.clear_session()
    again = DeviceStore(str(tmp_path))
    assert again.last_server() == "https://fixroute.example"
    assert again.load_session("https://fixroute.example") is None


def test_drafts_survive_a_restart_until_dropped(tmp_path):
    store = DeviceStore(str(tmp_path))
    draft = {"resolution": "换了密封圈", "parts": [["Seal", "2"]], "photos": [], "reason": "", "note": ""}
    store.save_draft("101:done", draft)
    store.save_draft("102:could_not_complete", {"reason": "no_access"})
    again = DeviceStore(str(tmp_path))
    assert again.load_draft("101:done") == draft
    again.drop_draft("101:done")
    assert again.load_draft("101:done") is None
    assert again.load_draft("102:could_not_complete") == {"reason": "no_access"}
    again.clear_drafts()
    assert again.load_draft("102:could_not_complete") is None
