"""A scriptable stand-in for Twilio's Messages API, and a Celery worker whose real Twilio gateway uses it.

``FakeTwilio`` serves ``POST /2010-04-01/Accounts/<sid>/Messages.json`` (send) and ``GET`` on the
same path (the list ``TwilioGateway.lookup`` reads) on a free loopback port, in a thread of the
test or bench process. Each POST takes the next scripted step (``script``), then the default:

* ``accept()``: record the message and answer 201 with a ``SM…`` sid;
* ``fail(status=500, code=20500)``: answer an error, record nothing;
* ``hold_after_record()`` / ``hold_before_record()``: keep the request open (as a hung provider
  would) after or before recording the message, until ``release()`` or the client goes away.

Every accepted message is kept in ``accepted`` with the time it arrived (``time.time()``).

The worker: the Twilio SDK has no setting for its base URL, so ``python -m
tests.integration.fake_sms_provider <celery args>`` runs ``celery`` after pointing the real
``TwilioGateway``'s HTTP client at ``FAKE_TWILIO_URL`` (and, when ``FAKE_SMS_RETRY_BASE_S`` is set,
scaling the outbox's retry backoff down so a test of three retries runs in seconds).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPO = Path(__file__).resolve().parents[2]
ACCOUNT_SID = "ACfake0000000000000000000000000000"
AUTH_TOKEN = "fake-token"
FROM_NUMBER = "+14155550000"
HOLD_LIMIT_S = 60.0


@dataclass(frozen=True)
class Accepted:
    sid: str
    to: str
    body: str
    from_: str
    received: float  # time.time()


@dataclass(frozen=True)
class Step:
    kind: str  # "accept", "fail", "hold_after", "hold_before"
    status: int = 201
    code: int | None = None
    message: str = ""


def accept() -> Step:
    return Step("accept")


def fail(*, status: int = 500, code: int = 20500, message: str = "Internal Server Error") -> Step:
    return Step("fail", status=status, code=code, message=message)


def hold_after_record() -> Step:
    return Step("hold_after")


def hold_before_record() -> Step:
    return Step("hold_before")


def twilio_json(message: Accepted, *, status: str = "queued") -> dict[str, Any]:
    return {
        "sid": message.sid,
        "account_sid": ACCOUNT_SID,
        "to": message.to,
        "from": message.from_,
        "body": message.body,
        "status": status,
        "num_segments": "1",
        "direction": "outbound-api",
        "date_created": format_datetime(datetime.fromtimestamp(message.received, UTC), usegmt=True),
        "date_sent": format_datetime(datetime.fromtimestamp(message.received, UTC), usegmt=True),
        "error_code": None,
        "error_message": None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message.sid}.json",
    }


class FakeTwilio:
    """The fake provider; use as a context manager (``with FakeTwilio() as provider``)."""

    def __init__(self, *, script: list[Step] | None = None) -> None:
        self.script: list[Step] = list(script or [])
        self.accepted: list[Accepted] = []
        self.posts = 0  # every send request, answered or not
        self.holding = 0  # requests held open right now
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._sids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # --- scripting ---

    def then(self, *steps: Step) -> None:
        with self._lock:
            self.script.extend(steps)

    def release(self) -> None:
        self._release.set()

    def bodies(self) -> list[str]:
        with self._lock:
            return [message.body for message in self.accepted]

    def count(self, body: str) -> int:
        return self.bodies().count(body)

    # --- HTTP ---

    def _next_step(self) -> Step:
        with self._lock:
            self.posts += 1
            return self.script.pop(0) if self.script else accept()

    def _record(self, form: Mapping[str, str]) -> Accepted:
        with self._lock:
            message = Accepted(
                sid=f"SM{next(self._sids):032x}",
                to=form.get("To", ""),
                body=form.get("Body", ""),
                from_=form.get("From", ""),
                received=time.time(),
            )
            self.accepted.append(message)
            return message

    def _hold(self) -> None:
        with self._lock:
            self.holding += 1
        try:
            self._release.wait(HOLD_LIMIT_S)
        finally:
            with self._lock:
                self.holding -= 1

    def answer_post(self, form: Mapping[str, str]) -> tuple[int, Any] | None:
        step = self._next_step()
        if step.kind == "fail":
            return step.status, {
                "code": step.code,
                "message": step.message,
                "more_info": f"https://www.twilio.com/docs/errors/{step.code}",
                "status": step.status,
            }
        if step.kind == "hold_before":
            self._hold()
            return None
        message = self._record(form)
        if step.kind == "hold_after":
            self._hold()
            return None
        return 201, twilio_json(message)

    def answer_list(self, query: Mapping[str, str]) -> tuple[int, Any]:
        to = query.get("To")
        with self._lock:
            listed = [twilio_json(m, status="delivered") for m in self.accepted if to is None or m.to == to]
        listed.reverse()  # newest first, as Twilio lists
        return 200, {
            "messages": listed,
            "next_page_uri": None,
            "page": 0,
            "page_size": len(listed),
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        }

    def __enter__(self) -> FakeTwilio:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self, result: tuple[int, Any] | None) -> None:
                if result is None:  # held: the client gave up or was killed; just close
                    self.close_connection = True
                    return
                status, body = result
                payload = json.dumps(body).encode()
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                form = {key: values[-1] for key, values in parse_qs(raw).items()}
                self._reply(provider.answer_post(form))

            def do_GET(self) -> None:  # noqa: N802
                query = {key: values[-1] for key, values in parse_qs(urlsplit(self.path).query).items()}
                self._reply(provider.answer_list(query))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def twilio_env(provider: FakeTwilio, *, retry_base_s: float | None = None) -> dict[str, str]:
    """Environment for a worker (or web server) whose Twilio gateway talks to ``provider``."""
    env = {
        "SMS_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "FAKE_TWILIO_URL": provider.url,
        "PUBLIC_BASE_URL": "",
    }
    if retry_base_s is not None:
        env["FAKE_SMS_RETRY_BASE_S"] = str(retry_base_s)
    return env


def point_twilio_at(base_url: str) -> None:
    """Make the real ``TwilioGateway`` of this process send to ``base_url`` instead of Twilio."""
    from notifications.gateways import twilio as twilio_gateway

    original = twilio_gateway.TwilioHttpClient
    if getattr(original, "fake_base", None) == base_url:
        return

    class LocalHttpClient(original):  # type: ignore[misc, valid-type]
        fake_base = base_url

        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            return super().request(method, url.replace("https://api.twilio.com", base_url), *args, **kwargs)

    twilio_gateway.TwilioHttpClient = LocalHttpClient  # type: ignore[misc]


@contextlib.contextmanager
def sms_worker(
    broker_url: str,
    *,
    queues: str,
    name: str,
    env: Mapping[str, str],
    log: Path,
    pool: tuple[str, ...] = ("--pool", "solo"),
) -> Iterator[subprocess.Popen]:
    """A real ``celery worker`` (via this module, so Twilio goes to ``FAKE_TWILIO_URL``)."""
    from tests.integration.services import celery_worker_on

    with celery_worker_on(
        broker_url, queues=queues, name=name, env=env, log=log, pool=pool, module="tests.integration.fake_sms_provider"
    ) as process:
        yield process


def _worker_main() -> None:
    base = os.environ.get("FAKE_TWILIO_URL")
    if base:
        point_twilio_at(base)
    retry_base = os.environ.get("FAKE_SMS_RETRY_BASE_S")
    if retry_base:
        from datetime import timedelta

        import django

        django.setup()
        from notifications import services

        services.RETRY_BASE = timedelta(seconds=float(retry_base))
    from celery.__main__ import main

    sys.argv = ["celery", *sys.argv[1:]]
    main()


if __name__ == "__main__":
    _worker_main()
