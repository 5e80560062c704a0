"""While the technician is driving to a job, report the position every minute.

Each report is queued in the outbox like a tap (so a day without signal loses none) and
sent to ``/api/mobile/location``; the server uses them for the ETA it shows the
customer. Nothing is reported while no job is en route.
"""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock

from mobile.job_board import JobBoard
from mobile.sync import SyncEngine

EN_ROUTE = "en_route"


class LocationReporter:
    def __init__(self, *, board: JobBoard, sync: SyncEngine, every_s: float = 60.0) -> None:
        self._board = board
        self._sync = sync
        self.every_s = every_s
        self._event: Any = None
        board.bind(jobs=self._check)

    @property
    def running(self) -> bool:
        return self._event is not None

    def en_route_job(self) -> int | None:
        job = next((j for j in self._board.jobs if j.get("status") == EN_ROUTE), None)
        return int(job["id"]) if job else None

    def stop(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None

    def _check(self, *_args: Any) -> None:
        """Start the minute timer when a job goes en route; stop it when none is."""
        if self.every_s <= 0:
            return
        if self.en_route_job() is None:
            self.stop()
        elif self._event is None:
            self._event = Clock.schedule_interval(self._tick, self.every_s)

    def _tick(self, _dt: float) -> None:
        job_id = self.en_route_job()
        if job_id is None:
            self.stop()
            return
        self._sync.record_location(job_id)
