"""Real processes for fault tests and the load bench, each on a free loopback port of its own.

A private Redis or PostgreSQL that a test may stop and start without touching the shared ones,
the project served by gunicorn, a Celery worker on a given broker, and a small HTTP client that
reports a connection refused or reset as an answer instead of raising. Nothing here imports
pytest or Django at module level, so ``bench/load.py`` uses it too.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

REDIS_SERVER = "/usr/bin/redis-server"
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
# PostgreSQL refuses to run as root: as root, the private cluster runs as this OS user.
POSTGRES_OS_USER = "postgres"

# Variables of the test process that must not leak into a server started for a test.
_NOT_INHERITED = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "CELERY_QUEUE",
    "CELERY_REPLAN_QUEUE",
    "SMS_PROVIDER",
    "DISPATCH_BACKGROUND",
    "CTI_WEBHOOK_TOKEN",
)


def missing_binaries(*paths: str | Path) -> list[str]:
    return [f"{path} is not installed" for path in paths if not Path(path).is_file()]


def require(problems: list[str]) -> None:
    """Skip the calling test for ``problems``; under CI=true fail it instead."""
    if not problems:
        return
    import pytest

    message = "; ".join(problems)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Any, *, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"(no log at {path}: {exc})"


def _stop(process: subprocess.Popen, *, timeout: float = 20.0) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One request's outcome. ``status`` is None when no HTTP answer came (``error`` says why)."""

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: Any = None  # decoded JSON, else text
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def __str__(self) -> str:
        if self.status is None:
            return f"no answer ({self.error}) after {self.seconds:.2f} s"
        return f"{self.status} {str(self.body)[:300]}"


def http_json(
    base_url: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    token: str | None = None,
    timeout: float = 60.0,
) -> Answer:
    """One request on a new connection, as a phone system or a phone would send it; never raises
    for a network failure (connection refused, reset, timeout)."""
    url = urllib.parse.urlsplit(base_url)
    sent = {"Content-Type": "application/json", "Connection": "close", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    started = time.perf_counter()
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        status, answer_headers = response.status, {name.lower(): value for name, value in response.getheaders()}
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - started)
    finally:
        connection.close()
    seconds = time.perf_counter() - started
    try:
        decoded: Any = json.loads(raw) if raw else None
    except ValueError:
        decoded = raw.decode(errors="replace")
    return Answer(status, answer_headers, decoded, seconds=seconds)


# --- Environment of the project's processes -------------------------------------------------------


def app_env(
    *,
    database_url: str,
    redis_url: str,
    cti_token: str,
    queue: str,
    replan_queue: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a production-like web server or worker: the one settings module, DEBUG
    unset, plain HTTP on loopback, Celery for background work, SMS printed by the console provider."""
    env = {name: value for name, value in os.environ.items() if name not in _NOT_INHERITED}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "server.config.settings.production",
            "PYTHONPATH": str(REPO),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "fixroute-fault-and-load-tests",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",
            "SECURE_HSTS_SECONDS": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CTI_WEBHOOK_TOKEN": cti_token,
            "DISPATCH_BACKGROUND": "celery",
            "SMS_PROVIDER": "console",
            # Texts go at once whatever the hour the tests run at (quiet hours have their own tests).
            "SMS_QUIET_HOURS": "",
            "CELERY_QUEUE": queue,
            "CELERY_REPLAN_QUEUE": replan_queue,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def django_database_url() -> str:
    """The URL of the database the test process's Django uses (the integration test database)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


# --- Redis ---------------------------------------------------------------------------------------


class PrivateRedis:
    """A Redis of one test's own: no persistence, on a free port that stays the same across stops."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.log = workdir / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "Redis is already running"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(self.answers, timeout=15, what=f"the private Redis on port {self.port}: {tail(self.log)}")

    def answers(self) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


# --- PostgreSQL ----------------------------------------------------------------------------------


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb, trust auth) on a free loopback port.

    As root it runs as the ``postgres`` OS user, in a directory that user owns. It is started
    and stopped with ``pg_ctl``, so a test can restart it under load like an operator would.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fixroute-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "postgresql.log"
        self.port = free_port()
        self.user: str | None = POSTGRES_OS_USER if os.geteuid() == 0 else None

    @staticmethod
    def problems() -> list[str]:
        problems = missing_binaries(POSTGRES_BIN / "initdb", POSTGRES_BIN / "pg_ctl", POSTGRES_BIN / "postgres")
        if os.geteuid() == 0:
            import pwd

            try:
                pwd.getpwnam(POSTGRES_OS_USER)
            except KeyError:
                problems.append(f"running as root and there is no '{POSTGRES_OS_USER}' OS user to run PostgreSQL")
        return problems

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _pg(self, tool: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(POSTGRES_BIN / tool), *args],
            user=self.user,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({result.returncode}): {result.stdout}"
                f"{result.stderr}\n{tail(self.log)}"
            )
        return result

    def init(self) -> None:
        self.sockets.mkdir()
        if self.user is not None:
            for path in (self.root, self.sockets):
                shutil.chown(path, user=self.user)
        self._pg(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.sockets} -c fsync=off"
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def running(self) -> bool:
        result = subprocess.run(
            [str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "status"],
            user=self.user,
            capture_output=True,
            timeout=30,
            cwd=self.root,
            check=False,
        )
        return result.returncode == 0

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.data.exists() and self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# --- The project's processes --------------------------------------------------------------------


# Gunicorn's access log line with the time the worker spent on the request (without the wait
# in the listen queue): ``127.0.0.1 "POST /webhooks/cti/call HTTP/1.1" 201 812 53210us``.
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus'
_ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) \S+ (?P<us>\d+)us')


class Gunicorn:
    """``gunicorn server.config.wsgi:application`` with sync workers, its output in ``log``."""

    def __init__(self, *, env: Mapping[str, str], log: Path, workers: int = 2, timeout: int = 30) -> None:
        self.env = dict(env)
        self.log = log
        self.workers = workers
        self.timeout = timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "server.config.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    str(self.workers),
                    "--timeout",
                    str(self.timeout),
                    "--access-logfile",
                    "-",
                    "--access-logformat",
                    ACCESS_LOG_FORMAT,
                    "--error-logfile",
                    "-",
                ],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def healthy() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited ({self.process.returncode}):\n{tail(self.log)}")
            return http_json(self.url, "GET", "/healthz", timeout=5).status == 200

        wait_until(healthy, timeout=90, what=f"gunicorn to answer /healthz:\n{tail(self.log)}", interval=0.3)

    def booted_workers(self) -> list[int]:
        """Pids of every worker gunicorn booted so far (a worker that died is replaced by a new pid)."""
        return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", self.log.read_text(errors="replace"))]

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def server_ms(self, method: str, path: str, *, since: int = 0) -> list[float]:
        """Milliseconds the workers spent on each ``method path`` request logged after byte ``since``."""
        with self.log.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        return [
            int(line["us"]) / 1000.0
            for line in _ACCESS_LINE.finditer(text)
            if line["method"] == method and line["path"] == path
        ]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, timeout=30)


def celery_node(name: str) -> str:
    """The node name of the worker :func:`celery_worker_on` starts as ``name``."""
    return f"{name}@{socket.gethostname()}"


def celery_ping(broker_url: str, name: str, *, timeout: float = 1.0) -> bool:
    """Whether the worker ``name`` answers a ping through ``broker_url``."""
    from celery import Celery

    # Not the current app: the test process's shared tasks must keep resolving to the project's.
    app = Celery("fixroute-ping", broker=broker_url, set_as_current=False)
    try:
        return bool(app.control.ping(destination=[name], timeout=timeout))
    except Exception:  # noqa: BLE001 - a broker that is down is simply no answer
        return False
    finally:
        app.close()


def celery_send(broker_url: str, task: str, *, queue: str, kwargs: Mapping[str, Any] | None = None) -> None:
    """Send ``task`` by name through ``broker_url`` to ``queue`` (as beat would)."""
    from celery import Celery

    app = Celery("fixroute-send", broker=broker_url, set_as_current=False)
    try:
        app.send_task(task, kwargs=dict(kwargs or {}), queue=queue)
    finally:
        app.close()


@contextlib.contextmanager
def celery_worker_on(
    broker_url: str,
    *,
    queues: str,
    name: str,
    env: Mapping[str, str],
    log: Path,
    pool: tuple[str, ...] = ("--pool", "solo"),
    module: str = "celery",
) -> Iterator[subprocess.Popen]:
    """A ``celery worker`` on ``broker_url`` consuming ``queues``, answering pings before this yields.

    ``module`` is what ``python -m`` runs: Celery itself, or a wrapper that prepares the process
    first (``tests.integration.fake_sms_provider`` points Twilio at a fake).
    """
    node = celery_node(name)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                module,
                "-A",
                "server.config.celery_app",
                "worker",
                "-Q",
                queues,
                *pool,
                "--loglevel",
                "INFO",
                "-n",
                node,
            ],
            cwd=REPO,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the Celery worker exited ({process.returncode}):\n{tail(log)}")
            return celery_ping(broker_url, node)

        wait_until(ready, timeout=90, what=f"the Celery worker {node}:\n{tail(log)}", interval=0.5)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        _stop(process, timeout=20)
