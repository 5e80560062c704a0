"""The embedded default (SQLite, `make run`) serves concurrent requests: two agents and the phones
never meet "database is locked" (WAL, a busy timeout and transactions that take the write lock
when they begin)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.http import post_json

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only(reason="the embedded default: starts its own SQLite server")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def embedded_server(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "server.config.settings.production",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fixroute.sqlite3'}",
        "PYTHONPATH": str(REPO),
        "DISPATCH_REPLAN_DEBOUNCE_SECONDS": "2",
        "DISPATCH_REPLAN_SECONDS": "1",
    }
    env.pop("REDIS_URL", None)
    manage = [sys.executable, str(REPO / "server" / "manage.py")]
    for command in (["migrate", "--noinput"], ["demo_data"]):
        subprocess.run([*manage, *command], env=env, check=True, capture_output=True, timeout=300)
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/api/docs", timeout=1)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            time.sleep(0.2)
    yield {"url": base, "log": tmp_path / "server.log"}
    process.terminate()
    process.wait(timeout=20)


def test_forty_staff_orders_at_once_on_sqlite_all_succeed(embedded_server):
    base = embedded_server["url"]
    status, body = post_json(base + "/api/auth/token", {"username": "staff", "password": "staff-demo-1"})
    assert status == 200, body
    token = body["token"]

    def create(n: int) -> tuple[int, dict]:
        return post_json(
            base + "/api/work-orders",
            {
                "phone": f"1390000{n:04d}",
                "customer_name": f"客户{n}",
                "address": f"上海市测试路{n}号",
                "latitude": 31.20 + n / 1000,
                "longitude": 121.45 + n / 1000,
                "problem": "净水器漏水",
                "required_skill": "water_purifier",
            },
            token=token,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(create, range(40)))
    failures = [(status, body) for status, body in results if status != 201]
    assert failures == [], embedded_server["log"].read_text()[-3000:]
    assert len({body["id"] for _, body in results}) == 40
    assert "database is locked" not in embedded_server["log"].read_text()
