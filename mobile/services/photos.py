"""Photos waiting to upload, in sqlite next to the outbox, with their upload progress.

A photo picked on the finish form is copied into the app's own folder at once (the
gallery file may be gone tomorrow), with its size and SHA-256. Its row remembers how many
bytes the server has confirmed (``received``), so an upload cut off by a lost network,
an app restart or a phone reboot carries on from there instead of starting again.

The upload itself is a resumable protocol (``upload_step``), one request per step:
``POST /api/mobile/photos`` announces the photo and returns what the server already has;
``PUT .../content?offset=N`` sends the next chunk. A 409 tells the offset the server
really has (a chunk got lost): continue from there. A 422 means the bytes did not match
the checksum: start again from 0 once, then give up and show the photo as failed.

A failed photo stays (row and file) until the technician retries it (from 0) or removes
it on the job's screen; log out keeps the files of unsent and failed photos. Like the
outbox's events, each photo records its owner (``mobile.services.outbox.Owner``) and only
the current owner's photos are counted and sent.

Not thread-safe: used from the Kivy main thread only (the HTTP runs in a worker thread).
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from mobile.services.outbox import Owner, owner_scope

MAX_PHOTO_BYTES = 15 * 1024 * 1024
CHUNK_BYTES = 192 * 1024
CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".heic": "image/heic",
}

PHOTO_FILTERS = ["*.jpg", "*.jpeg", "*.png", "*.webp", "*.heic", "*.JPG", "*.JPEG", "*.PNG"]  # file chooser

UPLOADING = "uploading"
DONE = "done"
FAILED = "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_photo_id TEXT    NOT NULL UNIQUE,
    work_order_id   INTEGER NOT NULL,
    path            TEXT    NOT NULL,
    filename        TEXT    NOT NULL,
    content_type    TEXT    NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT    NOT NULL,
    received        INTEGER NOT NULL DEFAULT 0,
    announced       INTEGER NOT NULL DEFAULT 0,
    restarts        INTEGER NOT NULL DEFAULT 0,
    state           TEXT    NOT NULL DEFAULT 'uploading'
                            CHECK (state IN ('uploading', 'done', 'failed')),
    last_error      TEXT    NOT NULL DEFAULT '',
    owner           TEXT,
    owner_name      TEXT
);
"""

# Columns added after the first release, with what an old row gets.
_ADDED_COLUMNS = {
    "owner": "TEXT",  # None: queued before owners were recorded (sent by whoever logs in)
    "owner_name": "TEXT",
}

_COLUMNS = (
    "id, client_photo_id, work_order_id, path, filename, content_type, size, sha256, "
    "received, announced, restarts, state, last_error, owner"
)


class PhotoError(ValueError):
    """The file can't be sent (not an image type the server takes, too big, unreadable)."""


@dataclass(frozen=True, slots=True)
class Photo:
    id: int
    client_photo_id: str
    work_order_id: int
    path: str
    filename: str
    content_type: str
    size: int
    sha256: str
    received: int
    announced: bool
    restarts: int
    state: str
    last_error: str
    owner: str | None = None  # Owner.key of the session that queued it

    def announcement(self) -> dict[str, Any]:
        """The body of ``POST /api/mobile/photos``."""
        return {
            "client_photo_id": self.client_photo_id,
            "work_order_id": self.work_order_id,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
        }


def describe_file(path: str) -> tuple[str, int, str]:
    """(content type, size, sha256) of a photo file; PhotoError when it can't be sent."""
    content_type = CONTENT_TYPES.get(os.path.splitext(path)[1].lower()) or mimetypes.guess_type(path)[0] or ""
    if content_type not in CONTENT_TYPES.values():
        raise PhotoError(path)
    try:
        size = os.path.getsize(path)
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise PhotoError(path) from exc
    if size == 0 or size > MAX_PHOTO_BYTES:
        raise PhotoError(path)
    return content_type, size, digest.hexdigest()


class PhotoQueue:
    def __init__(self, db_path: str, folder: str) -> None:
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.owner: Owner | None = None  # whose photos are counted and sent now
        self._db = sqlite3.connect(db_path)
        self._migrate()
        self._db.executescript(_SCHEMA)
        self._db.commit()

    def _migrate(self) -> None:
        """Bring a table made by an older app version up to date (keeps its rows)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(photos)")}
        if not columns:
            return  # a new database: _SCHEMA creates the whole table
        with self._db:
            for name, definition in _ADDED_COLUMNS.items():
                if name not in columns:
                    self._db.execute(f"ALTER TABLE photos ADD COLUMN {name} {definition}")

    def close(self) -> None:
        self._db.close()

    def add(self, *, work_order_id: int, source_path: str) -> Photo:
        """Copy the file into the app's folder and queue it (raises PhotoError)."""
        content_type, size, sha256 = describe_file(source_path)
        client_photo_id = uuid.uuid4().hex
        filename = os.path.basename(source_path)
        target = os.path.join(self.folder, client_photo_id + os.path.splitext(filename)[1].lower())
        shutil.copyfile(source_path, target)
        owner = self.owner
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO photos (client_photo_id, work_order_id, path, filename, content_type, size, sha256,"
                " owner, owner_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    client_photo_id,
                    int(work_order_id),
                    target,
                    filename,
                    content_type,
                    size,
                    sha256,
                    owner.key if owner else None,
                    owner.name if owner else None,
                ),
            )
        photo = self.get(cursor.lastrowid or 0)
        assert photo is not None
        return photo

    def get(self, photo_id: int) -> Photo | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM photos WHERE id = ?", (photo_id,)).fetchone()
        return _photo(row) if row else None

    def uploading(self) -> list[Photo]:
        """The current owner's photos still to upload, oldest first."""
        return self._in_state(UPLOADING)

    def failed(self, *, work_order_id: int | None = None) -> list[Photo]:
        """The current owner's photos that gave up (of one job, or all), oldest first."""
        return [p for p in self._in_state(FAILED) if work_order_id is None or p.work_order_id == work_order_id]

    def all(self) -> list[Photo]:
        return self._select("ORDER BY id", ())

    def uploading_count(self) -> int:
        return self._count(UPLOADING)

    def failed_count(self) -> int:
        return self._count(FAILED)

    def waiting_by_owner(self) -> dict[str | None, tuple[str, int]]:
        """Unsent (uploading or failed) photos of every owner: ``{owner key: (name, count)}``."""
        rows = self._db.execute(
            "SELECT owner, MAX(COALESCE(owner_name, '')), COUNT(*) FROM photos WHERE state IN (?, ?) GROUP BY owner",
            (UPLOADING, FAILED),
        ).fetchall()
        return {key: (name, int(count)) for key, name, count in rows}

    def next_ready(self, blocked_jobs: set[int]) -> Photo | None:
        """The oldest photo to upload whose job has no events waiting to be sent first."""
        return next((p for p in self.uploading() if p.work_order_id not in blocked_jobs), None)

    def save_progress(self, photo_id: int, *, received: int, announced: bool = True) -> None:
        with self._db:
            self._db.execute(
                "UPDATE photos SET received = ?, announced = ?, last_error = '' WHERE id = ?",
                (int(received), int(announced), photo_id),
            )

    def mark_done(self, photo_id: int) -> None:
        """The server has every byte: the local copy is no longer needed."""
        photo = self.get(photo_id)
        if photo is not None:
            with contextlib.suppress(OSError):
                os.remove(photo.path)
        with self._db:
            self._db.execute("UPDATE photos SET state = ?, received = size WHERE id = ?", (DONE, photo_id))

    def restart(self, photo_id: int, error: str) -> None:
        with self._db:
            self._db.execute(
                "UPDATE photos SET received = 0, announced = 0, restarts = restarts + 1, last_error = ? WHERE id = ?",
                (error, photo_id),
            )

    def mark_failed(self, photo_id: int, error: str) -> None:
        """Give up on a photo: it stays, with its file and ``error``, until the technician
        retries or removes it."""
        with self._db:
            self._db.execute("UPDATE photos SET state = ?, last_error = ? WHERE id = ?", (FAILED, error, photo_id))

    def retry(self, photo_id: int) -> None:
        """A failed photo goes back to the queue, to be sent again from byte 0."""
        with self._db:
            self._db.execute(
                "UPDATE photos SET state = ?, received = 0, announced = 0, restarts = 0, last_error = ''"
                " WHERE id = ? AND state = ?",
                (UPLOADING, photo_id, FAILED),
            )

    def remove(self, photo_id: int) -> None:
        """The technician chose to drop this photo: its row and its file go."""
        photo = self.get(photo_id)
        if photo is None:
            return
        with contextlib.suppress(OSError):
            os.remove(photo.path)
        with self._db:
            self._db.execute("DELETE FROM photos WHERE id = ?", (photo_id,))

    def record_error(self, photo_id: int, error: str) -> None:
        with self._db:
            self._db.execute("UPDATE photos SET last_error = ? WHERE id = ?", (error, photo_id))

    def clear(self, *, discard: bool = False) -> None:
        """Log out: forget the current owner's sent photos. Unsent and failed ones keep their
        rows and files for the next login, unless the technician confirmed ``discard``
        (then the current owner's go too; another owner's are never touched here)."""
        states = (DONE, UPLOADING, FAILED) if discard else (DONE,)
        for state in states:
            for photo in self._in_state(state):
                self.remove(photo.id)

    def read_chunk(self, photo: Photo, offset: int, size: int = CHUNK_BYTES) -> bytes:
        with open(photo.path, "rb") as f:
            f.seek(offset)
            return f.read(size)

    def _in_state(self, state: str) -> list[Photo]:
        scope, owner = owner_scope(self.owner)
        return self._select(f"WHERE state = ? AND {scope} ORDER BY id", (state, *owner))

    def _count(self, state: str) -> int:
        scope, owner = owner_scope(self.owner)
        sql = f"SELECT COUNT(*) FROM photos WHERE state = ? AND {scope}"
        return int(self._db.execute(sql, (state, *owner)).fetchone()[0])

    def _select(self, tail: str, params: tuple[Any, ...]) -> list[Photo]:
        return [_photo(row) for row in self._db.execute(f"SELECT {_COLUMNS} FROM photos {tail}", params)]


def _photo(row: tuple[Any, ...]) -> Photo:
    values = list(row)
    values[9] = bool(values[9])
    return Photo(*values)


# -- the upload protocol, one request per step -------------------------------------------


class PhotoApi(Protocol):
    def photo_start(self, announcement: dict[str, Any]) -> dict[str, Any]: ...

    def photo_put(self, client_photo_id: str, offset: int, data: bytes) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class StepResult:
    received: int  # bytes the server confirms
    complete: bool


def upload_step(api: PhotoApi, photo: Photo, chunk: bytes | None) -> StepResult:
    """Announce the photo (when ``not photo.announced``) or send ``chunk`` at
    ``photo.received``. Blocking: run it in a worker thread. Raises the ApiClient errors;
    a 409 (offset mismatch) is answered with where the server is, not raised."""
    from mobile.services.api_client import RejectedError

    if not photo.announced:
        body = api.photo_start(photo.announcement())
        return StepResult(int(body.get("received") or 0), bool(body.get("complete")))
    assert chunk is not None
    try:
        body = api.photo_put(photo.client_photo_id, photo.received, chunk)
    except RejectedError as exc:
        if exc.status == 409 and isinstance(exc.extra.get("received"), int):
            return StepResult(int(exc.extra["received"]), False)
        raise
    return StepResult(int(body.get("received") or 0), bool(body.get("complete")))
