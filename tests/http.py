"""A tiny JSON-over-HTTP client for tests that talk to a real server process."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def post_json(url: str, body: dict, headers: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    """POST ``body`` as JSON; returns (status, decoded answer), errors included."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
