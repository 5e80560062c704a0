"""Today's jobs as the screens show them: server list + cache + unsynced taps on top."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ListProperty, StringProperty

from mobile.background import run_in_background
from mobile.services import jobview
from mobile.services.api_client import ApiClient, AuthError, TransientError
from mobile.services.outbox import Outbox
from mobile.services.store import DeviceStore


class JobBoard(EventDispatcher):
    jobs = ListProperty([])  # what the screens show, in route order
    day = StringProperty("")  # "YYYY-MM-DD" from the server
    loaded = BooleanProperty(False)  # there is a list (from the server or the cache)
    loading = BooleanProperty(False)
    offline = BooleanProperty(False)  # the last refresh could not reach the server
    updated_at = StringProperty("")  # local "HH:MM" (or "dd/mm HH:MM") of the last fetch
    error = StringProperty("")  # a refusal worth showing (e.g. 403 not a technician)

    __events__ = ("on_auth_required",)

    def __init__(self, *, api: ApiClient, store: DeviceStore, outbox: Outbox, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._api = api
        self._store = store
        self._outbox = outbox
        self._server_jobs: list[dict[str, Any]] = []
        self._refreshing = False
        # Jobs the server sent back while a refresh was in flight: the refresh may
        # have been answered before them, so they win over its (older) copy.
        self._newer: dict[int, dict[str, Any]] = {}
        self._closed = False

    def job(self, job_id: int) -> dict[str, Any] | None:
        return next((j for j in self.jobs if j.get("id") == job_id), None)

    def load_cache(self) -> bool:
        cached = self._store.load_jobs()
        if cached is None:
            return False
        self._take(cached.payload, cached.fetched_at)
        return True

    def refresh(self) -> None:
        if self._refreshing or self._closed:
            return
        self._refreshing = True
        self._newer = {}
        self.loading = True
        run_in_background(self._api.jobs, on_done=self._on_jobs, on_error=self._on_failed)

    def apply_server_job(self, job: dict[str, Any]) -> None:
        """The server's answer to an event: it replaces our copy of that job."""
        self._server_jobs = [job if j.get("id") == job.get("id") else j for j in self._server_jobs]
        self._store.replace_job(job)
        if self._refreshing:
            self._newer[job["id"]] = job
        self.rebuild()

    def rebuild(self) -> None:
        """Recompute the shown jobs after the outbox changed."""
        self.jobs = jobview.overlay(self._server_jobs, self._outbox.pending(), self._outbox.rejected())

    def clear(self) -> None:
        self._server_jobs = []
        self._store.clear_jobs()
        self.day = self.updated_at = self.error = ""
        self.loaded = self.offline = False
        self.rebuild()

    def close(self) -> None:
        self._closed = True

    def on_auth_required(self, message: str) -> None:
        pass

    def _on_jobs(self, payload: dict[str, Any]) -> None:
        self._refreshing = False
        if self._closed:
            return
        now = datetime.now(UTC)
        if self._newer:
            payload = dict(payload, jobs=[self._newer.get(j.get("id"), j) for j in payload["jobs"]])
        self._store.save_jobs(payload, fetched_at=now)
        self.offline = False
        self.error = ""
        self._take(payload, now)

    def _on_failed(self, exc: BaseException) -> None:
        self._refreshing = False
        if self._closed:
            return
        self.loading = False
        if isinstance(exc, AuthError):
            self.dispatch("on_auth_required", exc.message)
        elif isinstance(exc, TransientError):
            self.offline = True
        else:
            self.error = getattr(exc, "message", None) or str(exc)

    def _take(self, payload: dict[str, Any], fetched_at: datetime) -> None:
        self._server_jobs = [j for j in payload["jobs"] if isinstance(j, dict)]
        self.day = str(payload.get("day") or "")
        local = fetched_at.astimezone()
        same_day = local.date() == datetime.now(UTC).astimezone().date()
        self.updated_at = local.strftime("%H:%M" if same_day else "%d/%m %H:%M")
        self.loading = False
        self.loaded = True
        self.rebuild()
