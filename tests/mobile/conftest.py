"""Fixtures for the technician-app tests: the Kivy driver, a stub API server, English by
default (a test that wants Chinese passes ``language="zh-CN"``), and screenshots kept as
artifacts."""

import os
import pathlib
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mobile import i18n

# fixtures, found by pytest through this module's namespace
from tests.kivy_driver import kivy_window, technician_app, ui  # noqa: F401
from tests.mobile.stub_server import StubServer

ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(i18n.LANGUAGE_ENV, "en")
    i18n.set_language("en")
    yield
    i18n.set_language("en")


@pytest.fixture(autouse=True)
def live_event_loop() -> None:
    """Each test starts with Kivy's event loop drawing: stopping an App in an earlier test
    sets ``EventLoop.quit``, and then ``EventLoop.idle()`` no longer lays out or draws, so a
    test that puts widgets on the window without starting an App would screenshot nothing."""
    import sys

    if "kivy.base" in sys.modules:
        sys.modules["kivy.base"].EventLoop.quit = False


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer().start()
    yield server
    server.stop()


@pytest.fixture
def artifact(ui: Any) -> Callable[[str], str]:  # noqa: F811 - the driver fixture imported above
    """``artifact(name)``: screenshot the window and keep a copy as
    ``test-artifacts/screenshots/mobile-<name>.png``; returns the copy's path."""

    def shoot(name: str) -> str:
        path = ui.screenshot("mobile-" + name)
        os.makedirs(ARTIFACTS, exist_ok=True)
        target = ARTIFACTS / f"mobile-{name}.png"
        if pathlib.Path(path).resolve() != target.resolve():
            shutil.copyfile(path, target)
        return str(target)

    return shoot
