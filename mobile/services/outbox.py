"""Durable FIFO of the technician's actions, in sqlite: taps ("On my way", "Arrived",
"Done" with its resolution and parts, "Could not complete" with its reason) and location
reports while driving (``kind`` tells them apart; both go out in one order).

A tap is written here *before* any network call, so it survives a crash, a dead battery
or a day without signal. Rows leave the table only when the server has accepted them.
A row the server refused permanently is kept with ``state = 'rejected'`` and its message:
it is shown to the technician and never silently deleted.

Each row carries a ``client_event_id`` (uuid4 hex) made on the device. A resend after a
lost response reuses it, so the server can recognise the duplicate.

Each row also records its owner: the server address and technician of the session that
queued it (``Owner``), so events kept at log out are sent by that technician only, never
under someone else's token. The queries see the current owner's rows (``owner``, set by the
app at login and cleared at log out) plus rows from before owners were recorded (no owner:
sent by whoever is logged in); with no owner set they see every row (nothing is sent then).

Older installs have earlier versions of the table (no ``kind``/``extra``/``owner``
columns); ``_migrate`` adds them in place, so taps queued before an upgrade are still sent.

Not thread-safe: the app touches the outbox from the Kivy main thread only.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mobile.i18n import _

# A batch request (``/api/mobile/events/batch``): at most this many events, and about this many
# bytes of JSON (the server takes request bodies up to 256 KB).
BATCH_EVENTS = 50
BATCH_BYTES = 192 * 1024

PENDING = "pending"
REJECTED = "rejected"
TAP = "tap"
LOCATION = "location"
LOCATION_ACTION = "location"  # the ``action`` of a location report (not a transition)

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
    dismissed       INTEGER NOT NULL DEFAULT 0,
    kind            TEXT    NOT NULL DEFAULT 'tap',
    extra           TEXT    NOT NULL DEFAULT '{}',
    owner           TEXT,
    owner_name      TEXT
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, id);
"""

# Columns added after the first release, with what an old row gets.
_ADDED_COLUMNS = {
    "kind": "TEXT NOT NULL DEFAULT 'tap'",
    "extra": "TEXT NOT NULL DEFAULT '{}'",
    "owner": "TEXT",  # None: queued before owners were recorded
    "owner_name": "TEXT",
}

_COLUMNS = (
    "id, client_event_id, work_order_id, action, device_time, latitude, longitude, "
    "state, attempts, last_error, dismissed, kind, extra, owner"
)


@dataclass(frozen=True, slots=True)
class Owner:
    """Who queued an event: the technician of a session on one server (``name`` for the
    screens: "changes by 张伟 wait for 张伟 to log in")."""

    server_url: str
    technician_id: int
    name: str = ""

    @property
    def key(self) -> str:
        return f"{self.server_url.rstrip('/')}#{int(self.technician_id)}"


def owner_scope(owner: Owner | None) -> tuple[str, tuple[Any, ...]]:
    """SQL condition (and its parameters) for the rows ``owner`` may see and send: its own
    and those without an owner; every row when ``owner`` is None."""
    if owner is None:
        return "1 = 1", ()
    return "(owner = ? OR owner IS NULL)", (owner.key,)


def merge_waiting(*groups: dict[str | None, tuple[str, int]]) -> dict[str | None, tuple[str, int]]:
    """Add up ``{owner key: (name, count)}`` maps (events and photos of the same owner)."""
    merged: dict[str | None, tuple[str, int]] = {}
    for group in groups:
        for key, (name, count) in group.items():
            old_name, old_count = merged.get(key, ("", 0))
            merged[key] = (old_name or name, old_count + count)
    return merged


def device_now() -> str:
    """The device's local time to the millisecond, ISO 8601 with its UTC offset
    (``2026-11-22T09:15:02.125+01:00``): two taps in one second keep their order."""
    return datetime.now(UTC).astimezone().isoformat(timespec="milliseconds")


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
    kind: str = TAP
    extra: str = "{}"  # JSON: reason/note/resolution/parts of a tap, accuracy_m of a location
    owner: str | None = None  # Owner.key of the session that queued it (None: from before owners)

    def details(self) -> dict[str, Any]:
        try:
            value = json.loads(self.extra or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def payload(self) -> dict[str, Any]:
        """The JSON body: ``POST /api/mobile/events`` (a tap) or ``/api/mobile/location``."""
        if self.kind == LOCATION:
            body: dict[str, Any] = {
                "client_event_id": self.client_event_id,
                "device_time": self.device_time,
                "latitude": self.latitude,
                "longitude": self.longitude,
            }
            accuracy = self.details().get("accuracy_m")
            if accuracy is not None:
                body["accuracy_m"] = accuracy
            return body
        return {
            "client_event_id": self.client_event_id,
            "work_order_id": self.work_order_id,
            "action": self.action,
            "device_time": self.device_time,
            "latitude": self.latitude,
            "longitude": self.longitude,
            **self.details(),
        }


class Outbox:
    def __init__(self, path: str) -> None:
        self.path = path
        self.owner: Owner | None = None  # whose events are queued, counted and sent now
        self._db = sqlite3.connect(path)
        self._migrate()
        self._db.executescript(_SCHEMA)
        self._db.commit()

    def _migrate(self) -> None:
        """Bring a table made by an older app version up to date (keeps its rows)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if not columns:
            return  # a new database: _SCHEMA creates the whole table
        with self._db:
            for name, definition in _ADDED_COLUMNS.items():
                if name not in columns:
                    self._db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {definition}")

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
        details: dict[str, Any] | None = None,
        kind: str = TAP,
    ) -> OutboxEvent:
        """Queue one tap (or, with ``kind=LOCATION``, a position); it becomes the newest
        pending event. ``details`` go into the request body as they are."""
        owner = self.owner
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO outbox (client_event_id, work_order_id, action, device_time,"
                " latitude, longitude, kind, extra, owner, owner_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    client_event_id or uuid.uuid4().hex,
                    int(work_order_id),
                    action,
                    device_time or device_now(),
                    latitude,
                    longitude,
                    kind,
                    json.dumps(details or {}, ensure_ascii=False),
                    owner.key if owner else None,
                    owner.name if owner else None,
                ),
            )
        event = self.get(cursor.lastrowid or 0)
        assert event is not None
        return event

    def add_location(
        self,
        *,
        latitude: float,
        longitude: float,
        work_order_id: int = 0,
        accuracy_m: float | None = None,
        device_time: str | None = None,
    ) -> OutboxEvent:
        """Queue a position report (``work_order_id``: the job driven to, for the record)."""
        return self.add(
            work_order_id=work_order_id,
            action=LOCATION_ACTION,
            latitude=latitude,
            longitude=longitude,
            device_time=device_time,
            details={"accuracy_m": accuracy_m} if accuracy_m is not None else None,
            kind=LOCATION,
        )

    def get(self, event_id: int) -> OutboxEvent | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (event_id,)).fetchone()
        return _event(row) if row else None

    def next_pending(self) -> OutboxEvent | None:
        """The oldest event still waiting to be sent (events go out strictly in order)."""
        scope, owner = owner_scope(self.owner)
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE state = ? AND {scope} ORDER BY id LIMIT 1", (PENDING, *owner)
        ).fetchone()
        return _event(row) if row else None

    def next_pending_batch(self, *, max_events: int, max_bytes: int) -> list[OutboxEvent]:
        """The oldest waiting events, in order, as many as fit one batch request: at most
        ``max_events``, and their JSON bodies together at most ``max_bytes`` (the first one
        always, whatever its size)."""
        scope, owner = owner_scope(self.owner)
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE state = ? AND {scope} ORDER BY id LIMIT ?",
            (PENDING, *owner, max_events),
        ).fetchall()
        batch: list[OutboxEvent] = []
        size = 0
        for row in rows:
            event = _event(row)
            size += len(json.dumps(event.payload(), ensure_ascii=False).encode("utf-8")) + 20
            if batch and size > max_bytes:
                break
            batch.append(event)
        return batch

    def pending(self) -> list[OutboxEvent]:
        scope, owner = owner_scope(self.owner)
        return self._select(f"WHERE state = ? AND {scope} ORDER BY id", (PENDING, *owner))

    def pending_count(self, *, work_order_id: int | None = None, kind: str | None = None) -> int:
        scope, owner = owner_scope(self.owner)
        sql = f"SELECT COUNT(*) FROM outbox WHERE state = ? AND {scope}"
        params: list[Any] = [PENDING, *owner]
        if work_order_id is not None:
            sql += " AND work_order_id = ?"
            params.append(int(work_order_id))
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        row = self._db.execute(sql, tuple(params)).fetchone()
        return int(row[0])

    def waiting_by_owner(self) -> dict[str | None, tuple[str, int]]:
        """Pending events of every owner: ``{owner key: (owner's name, count)}`` (key None:
        queued before owners were recorded)."""
        rows = self._db.execute(
            "SELECT owner, MAX(COALESCE(owner_name, '')), COUNT(*) FROM outbox WHERE state = ? GROUP BY owner",
            (PENDING,),
        ).fetchall()
        return {key: (name, int(count)) for key, name, count in rows}

    def discard_pending(self) -> int:
        """Delete the current owner's pending events (only when the technician has confirmed
        it); another technician's stay for them."""
        scope, owner = owner_scope(self.owner)
        with self._db:
            cursor = self._db.execute(f"DELETE FROM outbox WHERE state = ? AND {scope}", (PENDING, *owner))
        return cursor.rowcount

    def clear_rejected(self) -> None:
        """Delete the current owner's rejected rows (log out: the technician has seen them)."""
        scope, owner = owner_scope(self.owner)
        with self._db:
            self._db.execute(f"DELETE FROM outbox WHERE state = ? AND {scope}", (REJECTED, *owner))

    def rejected(self, *, work_order_id: int | None = None, include_dismissed: bool = False) -> list[OutboxEvent]:
        scope, owner = owner_scope(self.owner)
        where = f"WHERE state = ? AND {scope}"
        params: list[Any] = [REJECTED, *owner]
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

    def settle(self, event: OutboxEvent, *, status: int, message: str = "") -> str | None:
        """Record the server's final answer to ``event`` (200, or a refusal's status and message).

        Accepted: the row goes. Refused: a tap is kept as rejected with a message for the
        technician, who sees it until acknowledged (returned); a refused position is not the
        technician's problem and is dismissed at once (None)."""
        if status == 200:
            self.mark_sent(event.id)
            return None
        if status == 404 and event.kind == TAP:
            # The server answers a job that is no longer this technician's like a missing one.
            message = _("This job is no longer assigned to you (reassigned or withdrawn by the office).")
        message = message or _("Refused by the server (HTTP {status}).").format(status=status)
        self.mark_rejected(event.id, message)
        if event.kind == LOCATION:
            self.dismiss(event.id)
            return None
        return message

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
        kind,
        extra,
        owner,
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
        kind=kind,
        extra=extra,
        owner=owner,
    )
