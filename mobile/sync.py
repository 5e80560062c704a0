"""Sends the outbox to the server, oldest event first, one request at a time; then the
photos waiting to upload, a chunk at a time (``mobile.services.photos``).

Taps go to ``/api/mobile/events``, location reports to ``/api/mobile/location``, in the
one order they were queued. A backlog (two or more events waiting, e.g. after a day without
signal) goes in batches to ``/api/mobile/events/batch``: up to 50 events a request, each
answered as if sent alone, so a day's sync is a few round trips instead of hundreds. A
server without that endpoint (404/405) gets single events; a batch refused as a whole (4xx)
sends its first event alone, which settles that event, then batching resumes. A batch
that fails with 5xx three times in a row (one event may be what breaks the server) goes
out event by event, with the single path's back-off, up to its last event; then batching
resumes. No network and timeouts keep retrying the batch as it is.

Only the current owner's events and photos go (``set_owner``: the technician logged in on
that server; rows from before owners were recorded go with anyone). With no owner set,
nothing is sent. Another owner's unsent changes are counted apart (``others_waiting``) and
wait for that technician's next login on this phone.

Per event, by the server's answer:

- 200: drop the row; the job in the answer replaces ours (``on_job``).
- refused for good (400/403/404/409/422...): keep the row as rejected with the message
  (``on_rejected``) and go on with the next event.
- 401: stop; the app shows the login screen (``on_auth_required``). The outbox stays.
- no network, timeout, lost response, 5xx, 429: the row stays pending and at the head of
  the queue; try again after a growing delay (``Clock.schedule_once``). The resend
  carries the same ``client_event_id``, so the server spots a duplicate.

A photo goes once its job has no event left to send (the server then knows the job's
final state). Its progress is saved after every chunk the server confirms, so an upload
resumes where it stopped, after a restart too.
"""

from __future__ import annotations

import random
from typing import Any

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.logger import Logger
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty

from mobile.background import run_in_background
from mobile.i18n import _
from mobile.services.api_client import ApiClient, AuthError, RejectedError, TransientError
from mobile.services.location import LocationProvider
from mobile.services.outbox import (
    BATCH_BYTES,
    BATCH_EVENTS,
    LOCATION,
    TAP,
    Outbox,
    OutboxEvent,
    Owner,
    merge_waiting,
)
from mobile.services.photos import Photo, PhotoQueue, StepResult, upload_step

# A batch that fails with 5xx this many times in a row is sent event by event.
BATCH_SERVER_ERRORS = 3


class Backoff:
    """2 s, 4 s, 8 s ... capped at ``maximum``, with +-20% jitter so phones coming
    back online together don't all knock at once."""

    def __init__(self, *, first: float = 2.0, factor: float = 2.0, maximum: float = 60.0, jitter: float = 0.2) -> None:
        self.first, self.factor, self.maximum, self.jitter = first, factor, maximum, jitter
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self.first * self.factor**self.failures, self.maximum)
        self.failures += 1
        return delay * random.uniform(1 - self.jitter, 1 + self.jitter)

    def reset(self) -> None:
        self.failures = 0


class SyncEngine(EventDispatcher):
    pending_count = NumericProperty(0)  # events (taps and location reports) not sent yet
    photo_count = NumericProperty(0)  # photos not fully uploaded yet
    failed_photo_count = NumericProperty(0)  # photos that gave up, until retried or removed
    others_waiting = ListProperty([])  # [(name, n)]: unsent changes of other owners ('' no owner)
    rejected_count = NumericProperty(0)  # refused taps the technician hasn't acknowledged
    sending = BooleanProperty(False)
    last_error = StringProperty("")  # why the head event is still pending ('' if fine)
    retry_in = NumericProperty(0)  # seconds until the next automatic retry (0: none)

    __events__ = ("on_job", "on_changed", "on_rejected", "on_auth_required")

    def __init__(
        self,
        *,
        api: ApiClient,
        outbox: Outbox,
        location: LocationProvider,
        photos: PhotoQueue | None = None,
        backoff: Backoff | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._api = api
        self._outbox = outbox
        self._photos = photos
        self._location = location
        self._backoff = backoff or Backoff()
        self._in_flight: OutboxEvent | list[OutboxEvent] | Photo | None = None
        self._batches = True  # the server takes /events/batch (until it says it does not)
        self._single_next = False  # the last batch was refused whole: send its head alone
        self._single_through = 0  # send single events up to this outbox id (a batch the server chokes on)
        self._batch_errors: tuple[int, int] = (0, 0)  # (head id, 5xx failures in a row of its batch)
        self._retry_event: Any = None
        self._paused = False
        self._closed = False
        self._count()

    # -- what the screens call ---------------------------------------------------

    def record(self, work_order_id: int, action: str, details: dict[str, Any] | None = None) -> OutboxEvent:
        """A tap: store it first (with time, place and the form's details), then try to send."""
        position = self._location.current()
        event = self._outbox.add(
            work_order_id=work_order_id,
            action=action,
            latitude=position[0] if position else None,
            longitude=position[1] if position else None,
            details=details,
        )
        self._changed()
        self.sync_now()
        return event

    def record_location(self, work_order_id: int = 0) -> OutboxEvent | None:
        """A position report while driving; None when the position is unknown."""
        position = self._location.current()
        if position is None:
            return None
        event = self._outbox.add_location(latitude=position[0], longitude=position[1], work_order_id=work_order_id)
        self._count()
        self._pump()
        return event

    def add_photo(self, work_order_id: int, path: str) -> Photo | None:
        """Queue a photo (copied into the app's folder); it uploads after the job's events."""
        if self._photos is None:
            return None
        photo = self._photos.add(work_order_id=work_order_id, source_path=path)
        self._count()
        self._pump()
        return photo

    @property
    def owner(self) -> Owner | None:
        return self._outbox.owner

    def set_owner(self, owner: Owner | None) -> None:
        """Whose events and photos are counted and sent from now on (the app calls it at
        login and restore, and with None at log out: then nothing is sent)."""
        self._outbox.owner = owner
        if self._photos is not None:
            self._photos.owner = owner
        self._single_next = False
        self._single_through = 0
        self._batch_errors = (0, 0)
        self._changed()

    def retry_photo(self, photo_id: int) -> None:
        """The technician asked to send a failed photo again (from the start)."""
        if self._photos is not None:
            self._photos.retry(photo_id)
        self._changed()
        self.sync_now()

    def remove_photo(self, photo_id: int) -> None:
        """The technician chose to drop a failed photo."""
        if self._photos is not None:
            self._photos.remove(photo_id)
        self._changed()

    def failed_photos(self, work_order_id: int) -> list[Photo]:
        return self._photos.failed(work_order_id=work_order_id) if self._photos is not None else []

    def dismiss_rejections(self, work_order_id: int) -> None:
        for event in self._outbox.rejected(work_order_id=work_order_id):
            self._outbox.dismiss(event.id)
        self._changed()

    def recount(self) -> None:
        """Read the counts again (after the outbox or photos were cleared at log out)."""
        self._changed()

    def sync_now(self) -> None:
        """Send now instead of waiting for the next retry (tap, refresh, resume)."""
        self._cancel_retry()
        self._backoff.reset()
        self._pump()

    def pause(self) -> None:
        self._paused = True
        self._cancel_retry()

    def resume(self) -> None:
        self._paused = False
        self.sync_now()

    def close(self) -> None:
        self._closed = True
        self._cancel_retry()

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing left to send (what tests wait for)."""
        return self._in_flight is None and self.pending_count == 0 and self.photo_count == 0

    # -- events -------------------------------------------------------------------

    def on_job(self, job: dict[str, Any]) -> None:
        pass

    def on_changed(self) -> None:
        pass

    def on_rejected(self, event: OutboxEvent, message: str) -> None:
        pass

    def on_auth_required(self, message: str) -> None:
        pass

    # -- the loop -----------------------------------------------------------------

    def _pump(self, *_args: Any) -> None:
        self._retry_event = None
        self.retry_in = 0
        if self._closed or self._paused or self._in_flight is not None or not self._api.token:
            return
        if self._outbox.owner is None:
            return  # nobody logged in: nothing may go out under someone else's name
        event = self._outbox.next_pending()
        singles = self._single_next or (event is not None and event.id <= self._single_through)
        if self._batches and not singles:
            batch = self._outbox.next_pending_batch(max_events=BATCH_EVENTS, max_bytes=BATCH_BYTES)
            if len(batch) > 1:
                self._send_batch(batch)
                return
        self._single_next = False
        if event is None:
            self._pump_photo()
            return
        self._in_flight = event
        self.sending = True
        payload = event.payload()
        send = self._api.send_location if event.kind == LOCATION else self._api.send_event
        run_in_background(
            lambda: send(payload),
            on_done=lambda body: self._on_sent(event, body),
            on_error=lambda exc: self._on_failed(event, exc),
        )

    def _send_batch(self, batch: list[OutboxEvent]) -> None:
        self._in_flight = batch
        self.sending = True
        events = [dict(event.payload(), type="location" if event.kind == LOCATION else "tap") for event in batch]
        run_in_background(
            lambda: self._api.send_batch(events),
            on_done=lambda body: self._on_batch_sent(batch, body),
            on_error=lambda exc: self._on_batch_failed(batch, exc),
        )

    def _on_batch_sent(self, batch: list[OutboxEvent], body: dict[str, Any]) -> None:
        self._in_flight = None
        self.sending = False
        if self._closed:
            return
        refused = False
        for event, result in zip(batch, body["results"], strict=True):
            message = self._outbox.settle(event, status=result["status"], message=str(result.get("message") or ""))
            refused = refused or result["status"] != 200
            if message is not None:
                self.dispatch("on_rejected", event, message)
        self._backoff.reset()
        self._batch_errors = (0, 0)
        self.last_error = ""
        if refused:
            self._changed()
        else:
            self._count()
        for job in body["jobs"]:
            if isinstance(job, dict):
                self.dispatch("on_job", job)
        self._pump()

    def _on_batch_failed(self, batch: list[OutboxEvent], exc: BaseException) -> None:
        self._in_flight = None
        self.sending = False
        if self._closed:
            return
        if isinstance(exc, RejectedError):
            if exc.status in (404, 405):
                self._batches = False  # an older server: one event at a time
            else:
                self._single_next = True  # refused whole: the head alone says which event is wrong
            self._pump()
            return
        if isinstance(exc, TransientError) and (exc.status or 0) >= 500:
            head, failures = self._batch_errors
            failures = failures + 1 if head == batch[0].id else 1
            self._batch_errors = (batch[0].id, failures)
            if failures >= BATCH_SERVER_ERRORS:
                # The server keeps choking on this batch, maybe on one event of it: send it
                # event by event, so the events before that one are not held back.
                self._batch_errors = (0, 0)
                self._single_through = batch[-1].id
        # no network, timeout, 5xx, 401: as for a single event (the head stays pending)
        self._on_failed(batch[0], exc)

    def _on_sent(self, event: OutboxEvent, body: dict[str, Any]) -> None:
        self._in_flight = None
        self.sending = False
        if self._closed:
            return
        self._outbox.mark_sent(event.id)
        self._backoff.reset()
        self.last_error = ""
        self._count()
        if event.kind == TAP:
            self.dispatch("on_job", body["job"])
        self._pump()

    def _pump_photo(self) -> None:
        photo = self._photos.next_ready(set()) if self._photos is not None else None
        if photo is None:
            self.last_error = ""
            return
        photos = self._photos
        assert photos is not None
        chunk = photos.read_chunk(photo, photo.received) if photo.announced else None
        self._in_flight = photo
        self.sending = True
        run_in_background(
            lambda: upload_step(self._api, photo, chunk),
            on_done=lambda result: self._on_photo_step(photo, result),
            on_error=lambda exc: self._on_photo_failed(photo, exc),
        )

    def _on_photo_step(self, photo: Photo, result: StepResult) -> None:
        self._in_flight = None
        self.sending = False
        if self._closed or self._photos is None:
            return
        if result.complete:
            self._photos.mark_done(photo.id)
        else:
            self._photos.save_progress(photo.id, received=min(result.received, photo.size))
        self._backoff.reset()
        self.last_error = ""
        self._count()
        self._pump()

    def _on_photo_failed(self, photo: Photo, exc: BaseException) -> None:
        self._in_flight = None
        self.sending = False
        if self._closed or self._photos is None:
            return
        if isinstance(exc, RejectedError):
            if exc.status == 422 and photo.restarts == 0:
                self._photos.restart(photo.id, exc.message)  # the bytes got mixed up: once more from 0
            else:
                self._photos.mark_failed(photo.id, exc.message or _("Photo upload failed."))
            self._count()
            self._pump()
        elif isinstance(exc, AuthError):
            self._auth_required(exc)
        else:
            if not isinstance(exc, TransientError | OSError):
                Logger.exception("Fixroute: unexpected error uploading %s", photo.client_photo_id, exc_info=exc)
            self._photos.record_error(photo.id, self._retry_later(exc))

    def _on_failed(self, event: OutboxEvent, exc: BaseException) -> None:
        self._in_flight = None
        self.sending = False
        if self._closed:
            return
        if isinstance(exc, RejectedError):
            message = self._outbox.settle(event, status=exc.status or 400, message=exc.message)
            if message is not None:
                self.dispatch("on_rejected", event, message)
            if event.kind == LOCATION:
                self._count()
            else:
                self._changed()
            self._pump()
        elif isinstance(exc, AuthError):
            self._auth_required(exc)
        else:
            if not isinstance(exc, TransientError):
                Logger.exception("Fixroute: unexpected error sending %s", event.client_event_id, exc_info=exc)
            self._outbox.record_failure(event.id, self._retry_later(exc))

    def _auth_required(self, exc: AuthError) -> None:
        """401: stop sending until the technician logs in again; the queue stays."""
        self.last_error = exc.message
        self.pause()
        self.dispatch("on_auth_required", exc.message)

    def _retry_later(self, exc: BaseException) -> str:
        """A temporary failure: show why and try again after the back-off; returns the reason."""
        message = getattr(exc, "message", None) or repr(exc)
        self.last_error = message
        self._schedule_retry()
        return message

    def _schedule_retry(self) -> None:
        self._cancel_retry()
        delay = self._backoff.next_delay()
        self.retry_in = round(delay, 1)
        self._retry_event = Clock.schedule_once(self._pump, delay)

    def _cancel_retry(self) -> None:
        if self._retry_event is not None:
            self._retry_event.cancel()
            self._retry_event = None
        self.retry_in = 0

    def _count(self) -> None:
        self.pending_count = self._outbox.pending_count()
        self.photo_count = self._photos.uploading_count() if self._photos is not None else 0
        self.failed_photo_count = self._photos.failed_count() if self._photos is not None else 0
        self.rejected_count = len([e for e in self._outbox.rejected() if e.kind == TAP])
        waiting = merge_waiting(
            self._outbox.waiting_by_owner(), self._photos.waiting_by_owner() if self._photos is not None else {}
        )
        owner = self._outbox.owner
        others = []
        for key, (name, count) in waiting.items():
            if owner is not None and key in (None, owner.key):
                continue  # the current owner's (rows without an owner go with whoever is logged in)
            if key is None:  # from before owners were recorded: goes with whoever logs in
                others.append(("", count))
            else:
                others.append((name or _("another technician"), count))
        self.others_waiting = sorted(others, key=lambda item: (item[0] != "", item[0]))

    def _changed(self) -> None:
        self._count()
        self.dispatch("on_changed")
