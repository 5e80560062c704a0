"""Shared test set-up.

Kivy reads its environment on first import; ``tests.kivy_driver`` sets it (and a temporary
KIVY_HOME it removes at exit) before anything imports kivy, so it is imported here first.

The database tests run on PostgreSQL and again on SQLite (``scripts/test-unit.sh``). A test that
only means something on one of them says so with ``@pytest.mark.postgres_only(reason=...)`` or
``@pytest.mark.sqlite_only(reason=...)`` and is skipped, with that reason, on the other.
"""

import warnings

import pytest

import tests.kivy_driver  # noqa: F401

_ENGINE_MARKERS = {"postgres_only": "postgresql", "sqlite_only": "sqlite"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres_only(reason): runs only when the test database is PostgreSQL")
    config.addinivalue_line("markers", "sqlite_only(reason): runs only when the test database is SQLite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.db import connection

    for item in items:
        for name, vendor in _ENGINE_MARKERS.items():
            marker = item.get_closest_marker(name)
            if marker is not None and connection.vendor != vendor:
                reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
                item.add_marker(pytest.mark.skip(reason=f"{vendor} only, this run is on {connection.vendor}: {reason}"))


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, and on PostgreSQL no session of it left behind at the end.

    A thread that used the ORM and did not close its connection keeps a session on the test
    database, and PostgreSQL refuses to drop a database with sessions (the run would end in an
    error after every test passed). Such sessions are ended here, with a warning that names the
    leak, before pytest-django drops the database.
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        ended = len(cursor.fetchall())
    if ended:
        warnings.warn(
            f"{ended} session(s) on the test database were still open at the end of the run (a thread "
            "that used the ORM did not close its connection); ended them to drop the database",
            stacklevel=1,
        )
