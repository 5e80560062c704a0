"""Fixtures for the technician-app tests: the Kivy driver and a stub API server."""

from collections.abc import Iterator

import pytest

# fixtures, found by pytest through this module's namespace
from tests.kivy_driver import kivy_window, technician_app, ui  # noqa: F401
from tests.mobile.stub_server import StubServer


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer().start()
    yield server
    server.stop()
