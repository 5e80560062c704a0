"""Small local state in the app's private data dir: the session, the last job list and
the drafts of finish forms not submitted yet.

JSON files, each written atomically (temp file + ``os.replace``) so an app killed
mid-write leaves the previous version, never half a file. A missing or unreadable file
reads as "nothing stored". The outbox lives elsewhere (``outbox.py``, sqlite).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SESSION_FILE = "session.json"
JOBS_FILE = "jobs_cache.json"
DRAFTS_FILE = "drafts.json"


@dataclass(frozen=True, slots=True)
class StoredSession:
    server_url: str
    token: str
    technician_id: int
    technician_name: str


@dataclass(frozen=True, slots=True)
class CachedJobs:
    payload: dict[str, Any]  # the GET /api/mobile/jobs body, jobs possibly updated since
    fetched_at: datetime  # aware, UTC: when the list last came from the server


class DeviceStore:
    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        os.makedirs(data_dir, exist_ok=True)

    # -- session -------------------------------------------------------------------

    def load_session(self, server_url: str) -> StoredSession | None:
        """The saved login for *this* server; a token for another server is useless."""
        data = self._read(SESSION_FILE)
        if not data or data.get("server_url") != server_url:
            return None
        try:
            return StoredSession(
                server_url=server_url,
                token=str(data["token"]),
                technician_id=int(data["technician"]["id"]),
                technician_name=str(data["technician"]["name"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def save_session(self, *, server_url: str, token: str, technician: dict[str, Any], username: str = "") -> None:
        self._write(
            SESSION_FILE,
            {
                "server_url": server_url,
                "token": token,
                "technician": {"id": technician["id"], "name": technician["name"]},
                "username": username,
                "last_server": server_url,
            },
        )

    def clear_session(self) -> None:
        """Forget the token but remember the username and server, to prefill the login form."""
        data = self._read(SESSION_FILE) or {}
        self._write(SESSION_FILE, {"username": data.get("username", ""), "last_server": data.get("last_server", "")})

    def last_username(self) -> str:
        data = self._read(SESSION_FILE) or {}
        return str(data.get("username") or "")

    def last_server(self) -> str:
        """The server of the last successful login ('' if none yet)."""
        data = self._read(SESSION_FILE) or {}
        return str(data.get("last_server") or "")

    # -- job list cache --------------------------------------------------------------

    def save_jobs(self, payload: dict[str, Any], *, fetched_at: datetime | None = None) -> None:
        when = fetched_at or datetime.now(UTC)
        self._write(JOBS_FILE, {"fetched_at": when.isoformat(), "payload": payload})

    def load_jobs(self) -> CachedJobs | None:
        data = self._read(JOBS_FILE)
        if not data:
            return None
        try:
            fetched_at = datetime.fromisoformat(data["fetched_at"])
            payload = data["payload"]
        except (KeyError, TypeError, ValueError):
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("jobs"), list):
            return None
        if fetched_at.tzinfo is None:
            fetched_at = fetched_at.replace(tzinfo=UTC)
        return CachedJobs(payload=payload, fetched_at=fetched_at)

    def replace_job(self, job: dict[str, Any]) -> None:
        """Swap in one job the server sent back (after an event), keeping fetched_at."""
        cached = self.load_jobs()
        if cached is None:
            return
        jobs = [job if j.get("id") == job.get("id") else j for j in cached.payload["jobs"]]
        self.save_jobs(dict(cached.payload, jobs=jobs), fetched_at=cached.fetched_at)

    def clear_jobs(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(self.data_dir, JOBS_FILE))

    # -- drafts of forms --------------------------------------------------------------

    def load_draft(self, key: str) -> dict[str, Any] | None:
        draft = (self._read(DRAFTS_FILE) or {}).get(key)
        return draft if isinstance(draft, dict) else None

    def save_draft(self, key: str, draft: dict[str, Any]) -> None:
        drafts = self._read(DRAFTS_FILE) or {}
        drafts[key] = draft
        self._write(DRAFTS_FILE, drafts)

    def drop_draft(self, key: str) -> None:
        drafts = self._read(DRAFTS_FILE) or {}
        if drafts.pop(key, None) is not None:
            self._write(DRAFTS_FILE, drafts)

    def clear_drafts(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(self.data_dir, DRAFTS_FILE))

    # -- files -----------------------------------------------------------------------

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            with open(os.path.join(self.data_dir, name), encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write(self, name: str, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=name + ".", suffix=".tmp", dir=self.data_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, os.path.join(self.data_dir, name))
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
