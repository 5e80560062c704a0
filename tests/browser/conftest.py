"""Browser tests of the staff console: Playwright's sync API driving Debian's chromium (launched
by path; Playwright downloads no browser) against pytest-django's live server.

Without /usr/bin/chromium the tests are skipped with the reason, except under CI=true, where
that is a failure. Screenshots go to test-artifacts/screenshots/ (see ``shot``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls (creating
# users and customers) are still plain synchronous code between page actions.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "pw-123456"


def _no_browser_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = _no_browser_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Browser tests cannot run under CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """``new_page(locale="zh-CN")``: a fresh browser context (own cookies) and page."""
    contexts: list[Any] = []

    def make(*, locale: str = "zh-CN") -> Any:
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 860})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def login(live_server: Any) -> Callable[..., Any]:
    """Log ``user`` in through the console's login page."""

    def log_in(page: Any, user: Any, *, password: str = PASSWORD) -> Any:
        page.goto(live_server.url + "/login/")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", password)
        page.click("button[type=submit].primary")
        page.wait_for_load_state()
        return page

    return log_in


@pytest.fixture(scope="session")
def shot() -> Callable[[Any, str], Path]:
    """Save a full-page screenshot as a test artifact: test-artifacts/screenshots/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
