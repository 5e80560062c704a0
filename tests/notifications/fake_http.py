"""A local HTTP server standing in for a provider's API, so the real gateway classes run."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeProvider:
    """``answer(seen) -> (status, json_body)`` decides each response; ``requests`` records them."""

    answer: Callable[[Seen], tuple[int, Any]]
    requests: list[Seen] = field(default_factory=list)
    url: str = ""


@contextmanager
def fake_provider(answer: Callable[[Seen], tuple[int, Any]]) -> Iterator[FakeProvider]:
    provider = FakeProvider(answer=answer)

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            form = {key: values[-1] for key, values in parse_qs(raw).items()}
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            headers = {key.lower(): value for key, value in self.headers.items()}
            seen = Seen(method=self.command, path=parts.path, query=query, form=form, headers=headers)
            provider.requests.append(seen)
            status, body = provider.answer(seen)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _handle  # noqa: N815 (http.server's names)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
