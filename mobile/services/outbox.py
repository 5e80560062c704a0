"""Durable FIFO of the technician's taps ("On my way", "Arrived", "Done"), in sqlite.

A tap is written here *before* any network call, so it survives a crash, a dead battery
or a day without signal. Rows leave the table only when the server has accepted them.
A row the server refused permanently is kept with ``state = 'rejected'`` and its message:
it is shown to the technician and never silently deleted.

Each row carries a ``client_event_id`` (uuid4 hex) made on the device. A resend after a
lost response reuses it, so the server can recognise the duplicate.

Not thread-safe: the app touches the outbox from the Kivy main thread only.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PENDING = "pending"
REJECTED = "rejected"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_event_id TEXT    NOT NULL UNIQUE,
    work_order_id   INTEGER NOT NULL,
    action          TEXT    NOT NULL,
    device_time     TEXT    NOT NULL,
    latitude        REAL,
    longitude       REAL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'rejected')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    dismissed       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, id);
"""

_COLUMNS = (
    "id, client_event_id, work_order_id, action, device_time, latitude, longitude, "
    "state, attempts, last_error, dismissed"
)


def device_now() -> str:
    """The device's local time, ISO 8601 with its UTC offset (``2026-11-22T09:15:02+01:00``)."""
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: int
    client_event_id: str
    work_order_id: int
    action: str
    device_time: str
    latitude: float | None
    longitude: float | None
    state: str
    attempts: int
    last_error: str
    dismissed: bool

    def payload(self) -> dict[str, Any]:
        """The JSON body for ``POST /api/mobile/events``."""
        return {
            "client_event_id": self.client_event_id,
            "work_order_id": self.work_order_id,
            "action": self.action,
            "device_time": self.device_time,
            "latitude": self.latitude,
            "longitude": self.longitude,
        }


class Outbox:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.executescript(_SCHEMA)
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def add(
        self,
        *,
        work_order_id: int,
        action: str,
        latitude: float | None = None,
        longitude: float | None = None,
        device_time: str | None = None,
        client_event_id: str | None = None,
    ) -> OutboxEvent:
        """Queue one tap; it becomes the newest pending event."""
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO outbox (client_event_id, work_order_id, action, device_time,"
                " latitude, longitude) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    client_event_id or uuid.uuid4().hex,
                    int(work_order_id),
                    action,
                    device_time or device_now(),
                    latitude,
                    longitude,
                ),
            )
        event = self.get(cursor.lastrowid or 0)
        assert event is not None
        return event

    def get(self, event_id: int) -> OutboxEvent | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (event_id,)).fetchone()
        return _event(row) if row else None

    def next_pending(self) -> OutboxEvent | None:
        """The oldest event still waiting to be sent (events go out strictly in order)."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE state = ? ORDER BY id LIMIT 1", (PENDING,)
        ).fetchone()
        return _event(row) if row else None

    def pending(self) -> list[OutboxEvent]:
        return self._select("WHERE state = ? ORDER BY id", (PENDING,))

    def pending_count(self) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM outbox WHERE state = ?", (PENDING,)).fetchone()
        return int(row[0])

    def rejected(self, *, work_order_id: int | None = None, include_dismissed: bool = False) -> list[OutboxEvent]:
        where = "WHERE state = ?"
        params: list[Any] = [REJECTED]
        if work_order_id is not None:
            where += " AND work_order_id = ?"
            params.append(int(work_order_id))
        if not include_dismissed:
            where += " AND dismissed = 0"
        return self._select(where + " ORDER BY id", tuple(params))

    def all(self) -> list[OutboxEvent]:
        return self._select("ORDER BY id", ())

    def mark_sent(self, event_id: int) -> None:
        """The server accepted it (or already had it): drop the row."""
        with self._db:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (event_id,))

    def mark_rejected(self, event_id: int, message: str) -> None:
        with self._db:
            self._db.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
                (REJECTED, message, event_id),
            )

    def record_failure(self, event_id: int, error: str) -> None:
        """A send failed for a temporary reason; the event stays pending."""
        with self._db:
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error, event_id)
            )

    def dismiss(self, event_id: int) -> None:
        """The technician has read the rejection; the row itself is kept."""
        with self._db:
            self._db.execute("UPDATE outbox SET dismissed = 1 WHERE id = ? AND state = ?", (event_id, REJECTED))

    def _select(self, tail: str, params: tuple[Any, ...]) -> list[OutboxEvent]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM outbox {tail}", params).fetchall()
        return [_event(row) for row in rows]


def _event(row: tuple[Any, ...]) -> OutboxEvent:
    (
        event_id,
        client_event_id,
        work_order_id,
        action,
        device_time,
        latitude,
        longitude,
        state,
        attempts,
        last_error,
        dismissed,
    ) = row
    return OutboxEvent(
        id=event_id,
        client_event_id=client_event_id,
        work_order_id=work_order_id,
        action=action,
        device_time=device_time,
        latitude=latitude,
        longitude=longitude,
        state=state,
        attempts=attempts,
        last_error=last_error,
        dismissed=bool(dismissed),
    )
