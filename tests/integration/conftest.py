"""Integration tests: real PostgreSQL, Redis and a Celery worker process.

They run when the test settings point at PostgreSQL and Redis (``scripts/test-integration.sh``
sets DATABASE_URL and REDIS_URL). A missing service skips them with the reason, except under
CI=true, where it is a failure.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

# The Kivy window fixtures, for tests that drive the technician app against a live server.
from tests.kivy_driver import kivy_window, technician_app, ui  # noqa: E402, F401

REPO = Path(__file__).resolve().parents[2]


def _missing_services() -> list[str]:
    problems = []
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        problems.append(f"the database is {engine.rsplit('.', 1)[-1]}, not PostgreSQL (set DATABASE_URL)")
    else:
        import psycopg

        db = settings.DATABASES["default"]
        try:
            psycopg.connect(
                host=db["HOST"],
                port=db["PORT"] or 5432,
                user=db["USER"],
                password=db["PASSWORD"],
                dbname="postgres",
                connect_timeout=3,
            ).close()
        except psycopg.Error as exc:
            problems.append(f"PostgreSQL is not reachable: {exc}")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis is not reachable: {exc}")
    return problems


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def real_services():
    problems = _missing_services()
    if problems:
        message = "integration services missing: " + "; ".join(problems)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def set_task_routes(app, routes) -> None:
    """Route tasks from this process as ``routes`` says (as CELERY_TASK_ROUTES does)."""
    app.conf.task_routes = routes
    app.amqp.flush_routes()
    app.amqp.__dict__.pop("router", None)  # built from the old routes; rebuilt on next use


@contextlib.contextmanager
def celery_worker(queue: str, *, pool: tuple[str, ...], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A real ``celery worker`` process for ``queue`` on the test database, answering pings
    before this yields and stopped after."""
    from server.config.celery_app import app

    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "server.config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONPATH": str(REPO),
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "server.config.celery_app",
                "worker",
                "-Q",
                queue,
                *pool,
                "--loglevel",
                "INFO",
                "-n",
                f"{queue}@%h",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the Celery worker exited: {log.read_text()[-3000:]}")
            if app.control.ping(destination=[f"{queue}@{os.uname().nodename}"], timeout=1.0):
                break
        else:
            pytest.fail(f"the Celery worker did not answer in 60 s: {log.read_text()[-3000:]}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def celery_worker_process(real_services, django_db_setup, django_db_blocker, tmp_path_factory):
    """A real ``celery worker`` process on the test database and a queue of its own; re-plans
    (their own queue in production) go to it too."""
    queue = f"fixroute-test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = settings.CELERY_REPLAN_QUEUE = queue
    from server.config.celery_app import app

    app.conf.task_default_queue = queue
    app.conf.task_always_eager = False
    set_task_routes(app, {name: {"queue": queue} for name in settings.CELERY_TASK_ROUTES})
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    env = {
        "CELERY_QUEUE": queue,
        "CELERY_REPLAN_QUEUE": queue,
        "SMS_PROVIDER": "console",
        "DISPATCH_REPLAN_SECONDS": "1",
    }
    with celery_worker(queue, pool=("--pool", "solo", "--concurrency", "1"), env=env, log=log) as process:
        yield {"process": process, "queue": queue, "log": log}


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of this test's own (the shared one must never be stopped), on a free port that
    stays the same when the test stops and starts it again."""
    from tests.integration.services import REDIS_SERVER, PrivateRedis, missing_binaries, require

    require(missing_binaries(REDIS_SERVER))
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_postgres():
    """A throwaway PostgreSQL cluster of this test's own, running; removed afterwards."""
    from tests.integration.services import PrivatePostgres, require

    require(PrivatePostgres.problems())
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def gunicorn_server():
    """Start ``gunicorn server.config.wsgi:application`` with an environment: ``start(env=..., log=...)``.
    Every server started is stopped after the test (before its database is flushed)."""
    import importlib.util

    from tests.integration.services import Gunicorn, require

    require([] if importlib.util.find_spec("gunicorn") else ["gunicorn is not installed in this environment"])
    started: list[Gunicorn] = []

    def start(*, env: dict[str, str], log: Path, workers: int = 2) -> Gunicorn:
        server = Gunicorn(env=env, log=log, workers=workers)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
