"""The photo queue (durable progress) and one step of the resumable upload protocol."""

from __future__ import annotations

import hashlib
import os

import pytest

from mobile.services.api_client import ApiClient
from mobile.services.photos import CHUNK_BYTES, DONE, UPLOADING, PhotoError, PhotoQueue, describe_file, upload_step
from tests.mobile.stub_server import TOKEN


def _file(tmp_path, name="boiler.jpg", size=500_000) -> str:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return str(path)


def _queue(tmp_path) -> PhotoQueue:
    return PhotoQueue(str(tmp_path / "outbox.sqlite3"), str(tmp_path / "photos"))


def test_describe_refuses_what_the_server_refuses(tmp_path):
    content_type, size, sha = describe_file(_file(tmp_path, size=10))
    assert (content_type, size) == ("image/jpeg", 10)
    assert sha == hashlib.sha256((tmp_path / "boiler.jpg").read_bytes()).hexdigest()
    with pytest.raises(PhotoError):
        describe_file(_file(tmp_path, "notes.txt", 10))
    with pytest.raises(PhotoError):
        describe_file(_file(tmp_path, "empty.png", 0))
    with pytest.raises(PhotoError):
        describe_file(str(tmp_path / "missing.jpg"))


def test_queued_photo_is_a_private_copy_with_durable_progress(tmp_path):
    source = _file(tmp_path)
    queue = _queue(tmp_path)
    photo = queue.add(work_order_id=101, source_path=source)
    os.remove(source)  # the gallery file may go; ours stays
    assert os.path.isfile(photo.path)
    queue.save_progress(photo.id, received=CHUNK_BYTES)
    queue.close()

    again = _queue(tmp_path)
    [kept] = again.uploading()
    assert (kept.received, kept.announced, kept.state) == (CHUNK_BYTES, True, UPLOADING)
    assert again.next_ready({101}) is None  # its job still has events to send
    assert again.next_ready(set()) == kept
    again.mark_done(kept.id)
    assert again.get(kept.id).state == DONE
    assert not os.path.exists(kept.path)
    assert again.uploading_count() == 0


def test_upload_steps_resume_after_a_lost_chunk(tmp_path, stub):
    api = ApiClient(stub.url, token=TOKEN)
    queue = _queue(tmp_path)
    photo = queue.add(work_order_id=101, source_path=_file(tmp_path))
    stub.lose_photo_chunk()  # the first chunk reaches the server only in half
    offsets = []
    for _ in range(20):
        photo = queue.get(photo.id)
        chunk = queue.read_chunk(photo, photo.received) if photo.announced else None
        if photo.announced:
            offsets.append(photo.received)
        result = upload_step(api, photo, chunk)
        if result.complete:
            queue.mark_done(photo.id)
            break
        queue.save_progress(photo.id, received=result.received)
    assert queue.get(photo.id).state == DONE
    stored = stub.photos[photo.client_photo_id]
    assert stored["complete"]
    assert hashlib.sha256(stored["data"]).hexdigest() == photo.sha256
    # 0, then the 409 told the app the server had half a chunk: it resumed from there
    assert offsets[:3] == [0, CHUNK_BYTES, CHUNK_BYTES // 2]
