"""Today's jobs as the screens show them: server list + cache + unsynced taps on top.

It also polls the server for changes (``If-None-Match`` with the last ``ETag``; the
interval backs off while nothing changes, see ``alerts.PollSchedule``) and turns what
the office changed into alerts (``alerts.diff_jobs``) shown until dismissed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ListProperty, StringProperty

from mobile.background import run_in_background
from mobile.i18n import _, format_short_datetime
from mobile.services import jobview
from mobile.services.alerts import Alert, PollSchedule, diff_jobs, merge_alerts
from mobile.services.api_client import ApiClient, AuthError, JobList, TransientError
from mobile.services.outbox import TAP, Outbox
from mobile.services.store import DeviceStore


class JobBoard(EventDispatcher):
    jobs = ListProperty([])  # what the screens show, in route order
    day = StringProperty("")  # "YYYY-MM-DD" from the server
    loaded = BooleanProperty(False)  # there is a list (from the server or the cache)
    loading = BooleanProperty(False)
    offline = BooleanProperty(False)  # the last refresh could not reach the server
    updated_at = StringProperty("")  # local "HH:MM" (or "23 Nov HH:MM") of the last answer
    error = StringProperty("")  # a refusal worth showing (e.g. 403 not a technician)
    alerts = ListProperty([])  # [Alert]: new/changed/withdrawn jobs not dismissed yet

    __events__ = ("on_auth_required", "on_alert")

    def __init__(
        self,
        *,
        api: ApiClient,
        store: DeviceStore,
        outbox: Outbox,
        poll: PollSchedule | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._api = api
        self._store = store
        self._outbox = outbox
        self._server_jobs: list[dict[str, Any]] = []
        self._etag: str | None = None
        self._refreshing = False
        # Jobs the server sent back while a refresh was in flight: the refresh may
        # have been answered before them, so they win over its (older) copy.
        self._newer: dict[int, dict[str, Any]] = {}
        self._closed = False
        # Bumped by clear() (log out): a list answer for the previous session is dropped.
        self._generation = 0
        self.poll = poll
        self._poll_event: Any = None

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
        etag = self._etag if self._server_jobs else None
        generation = self._generation
        run_in_background(
            lambda: self._api.jobs_if_changed(etag),
            on_done=lambda result: self._on_jobs(result) if generation == self._generation else None,
            on_error=lambda exc: self._on_failed(exc) if generation == self._generation else None,
        )

    def apply_server_job(self, job: dict[str, Any]) -> None:
        """The server's answer to an event: it replaces our copy of that job."""
        self._server_jobs = [job if j.get("id") == job.get("id") else j for j in self._server_jobs]
        self._store.replace_job(job)
        if self._refreshing:
            self._newer[job["id"]] = job
        self.rebuild()

    def rebuild(self) -> None:
        """Recompute the shown jobs after the outbox changed."""
        pending, rejected = self._outbox.pending(), self._outbox.rejected()
        open_taps = {e.work_order_id for e in [*pending, *rejected] if e.kind == TAP}
        # A withdrawn job leaves once its last tap is sent or its refusal acknowledged.
        self._server_jobs = [j for j in self._server_jobs if not j.get("_withdrawn") or j.get("id") in open_taps]
        shown = list(self._server_jobs)
        if self.loaded:
            # Taps waiting or refused for a job this phone no longer has a copy of (logged in again,
            # the cache gone): a card of their own, so they can be seen and acknowledged.
            listed = {j.get("id") for j in shown}
            shown += [_placeholder(job_id) for job_id in sorted(open_taps - listed)]
        self.jobs = jobview.overlay(shown, pending, rejected)

    def dismiss_alert(self, job_id: int | None = None) -> None:
        """The technician has read the alert (of ``job_id``, or the oldest one)."""
        if not self.alerts:
            return
        if job_id is None:
            self.alerts = self.alerts[1:]
        else:
            self.alerts = [a for a in self.alerts if a.job_id != job_id]

    def clear(self) -> None:
        self._generation += 1
        self._refreshing = False
        self._newer = {}
        self.loading = False
        self._server_jobs = []
        self._etag = None
        self._store.clear_jobs()
        self.day = self.updated_at = self.error = ""
        self.loaded = self.offline = False
        self.alerts = []
        self.rebuild()

    # -- polling ------------------------------------------------------------------------

    def start_polling(self) -> None:
        if self.poll is not None:
            self._schedule_poll(self.poll.reset())

    def stop_polling(self) -> None:
        if self._poll_event is not None:
            self._poll_event.cancel()
            self._poll_event = None

    def poll_soon(self) -> None:
        """A tap or a resume: the technician is active, look again at the short interval."""
        if self.poll is not None and self._poll_event is not None:
            self._schedule_poll(self.poll.reset())

    def _schedule_poll(self, delay: float) -> None:
        self.stop_polling()
        self._poll_event = Clock.schedule_once(self._poll_tick, delay)

    def _poll_tick(self, _dt: float) -> None:
        self._poll_event = None
        self.refresh()

    def close(self) -> None:
        self._closed = True
        self.stop_polling()

    def on_auth_required(self, message: str) -> None:
        pass

    def on_alert(self, alerts: list[Alert]) -> None:
        pass

    # -- answers ------------------------------------------------------------------------

    def _on_jobs(self, result: JobList) -> None:
        self._refreshing = False
        if self._closed:
            return
        now = datetime.now(UTC)
        self.offline = False
        self.error = ""
        if result.body is None:  # 304: nothing changed since the last list
            self.loading = False
            self.updated_at = _stamp(now)
            self._next_poll(changed=False)
            return
        self._etag = result.etag or None
        payload = result.body
        if self._newer:
            payload = dict(payload, jobs=[self._newer.get(j.get("id"), j) for j in payload["jobs"]])
        listed = [j for j in self._server_jobs if not j.get("_withdrawn")]
        fresh = diff_jobs(listed, payload["jobs"]) if self.loaded else []
        payload = dict(payload, jobs=[*payload["jobs"], *self._kept_from(payload["jobs"])])
        self._store.save_jobs(payload, fetched_at=now)
        self._take(payload, now)
        if fresh:
            self.alerts = merge_alerts(list(self.alerts), fresh)
            self.dispatch("on_alert", fresh)
        self._next_poll(changed=bool(fresh))

    def _on_failed(self, exc: BaseException) -> None:
        self._refreshing = False
        if self._closed:
            return
        self.loading = False
        if isinstance(exc, AuthError):
            self.dispatch("on_auth_required", exc.message)
            return
        if isinstance(exc, TransientError):
            self.offline = True
        else:
            self.error = getattr(exc, "message", None) or str(exc)
        self._next_poll(changed=False)

    def _next_poll(self, *, changed: bool) -> None:
        if self.poll is None or self._closed:
            return
        self._schedule_poll(self.poll.reset() if changed else self.poll.unchanged())

    def _kept_from(self, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Jobs the server no longer lists (reassigned, cancelled) that still have taps waiting or
        refused on this phone: kept on the list, marked withdrawn, until the technician has seen
        what became of those taps. Nothing the technician did vanishes with its job."""
        ids = {j.get("id") for j in listed}
        waiting = {e.work_order_id for e in self._outbox.pending() if e.kind == TAP}
        waiting |= {e.work_order_id for e in self._outbox.rejected() if e.kind == TAP}
        return [
            dict(job, _withdrawn=True, allowed_actions=[], status_label=_("No longer yours"))
            for job in self._server_jobs
            if job.get("id") not in ids and job.get("id") in waiting
        ]

    def _take(self, payload: dict[str, Any], fetched_at: datetime) -> None:
        self._server_jobs = [j for j in payload["jobs"] if isinstance(j, dict)]
        self.day = str(payload.get("day") or "")
        self.updated_at = _stamp(fetched_at)
        self.loading = False
        self.loaded = True
        self.rebuild()


def _placeholder(job_id: int) -> dict[str, Any]:
    return {
        "id": job_id,
        "reference": _("Job #{id}").format(id=job_id),
        "status": "",
        "status_label": _("No longer yours"),
        "customer_name": "",
        "address": "",
        "problem": "",
        "history": [],
        "allowed_actions": [],
        "_withdrawn": True,
    }


def _stamp(moment: datetime) -> str:
    local = moment.astimezone()
    same_day = local.date() == datetime.now(UTC).astimezone().date()
    return local.strftime("%H:%M") if same_day else format_short_datetime(local)
