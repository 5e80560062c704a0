"""Headless Kivy driver for tests: one offscreen window, a frame pump, taps, screenshots.

No screen and no Xvfb are needed: SDL's ``offscreen`` driver gives a real OpenGL
context through EGL + Mesa (see /work/shared/KIVY.md). Kivy reads its environment on
first import, so this module sets it (``setdefault``) before anything imports kivy.

Fixtures (import them into a conftest or a test module)::

    from tests.kivy_driver import kivy_window, technician_app, ui  # noqa: F401

- ``kivy_window`` (session): the one Window of the process, 400x720 portrait. Not
  autouse: tests that never ask for ``ui`` never open a window.
- ``ui`` (function): a ``UI`` driver; stops every app it started at teardown.
- ``technician_app`` (function): a factory that starts a ``TechnicianApp`` against a
  server URL with a fresh data dir and returns a ``TechnicianDriver``.

Driving the technician app end to end (e.g. against a Django live server)::

    import pytest
    from mobile.services.location import FixedLocation

    @pytest.mark.ui
    def test_technician_day(technician_app, live_server):
        phone = technician_app(live_server.url, location=FixedLocation(48.8566, 2.3522))
        phone.login("tech1", "secret")              # types + taps "Log in", waits for the list
        jobs = phone.wait_for_jobs()                 # the job dicts shown, in route order
        phone.open_job(0)                            # taps the first row -> detail screen
        phone.tap_action("on_my_way")                # taps the "On my way" button
        phone.wait_synced()                          # outbox drained (server answered)
        assert phone.detail.status == "en_route"     # the job as the server returned it

``technician_app`` defaults: data dir ``tmp_path/"phone"`` (a second call in the same test
is the same phone restarted), ``FixedLocation(48.8566, 2.3522)``, retries after
0.05 s doubling up to 0.5 s, HTTP timeout 5 s. Any ``TechnicianApp`` keyword overrides
them. With pytest-django's ``live_server`` the data must be committed where the server
thread can see it (``transactional_db``), created before the phone logs in.

Lower level, with ``ui`` alone::

    app = ui.start(TechnicianApp(server_url=url, data_dir=str(tmp_path), location=...))
    ui.wait_until(lambda: app.root.current == "login")
    ui.tap(app.root.get_screen("login").ids.login_button)

Stable widget ids (``app.root.get_screen(name).ids[...]``):

- screen ``login``: ``server`` (the address, remembered), ``username``, ``password``,
  ``login_button``, ``login_error``, ``pending_label``, ``server_label``
- screen ``jobs``: ``job_list`` (RecycleView; ``screen.rows()`` gives the row widgets
  top-down, each with ``job_id`` and ``note``), ``day_label``, ``refresh_button``,
  ``logout_button`` (its popup: ``logout_keep``, ``logout_discard``, ``logout_cancel``),
  ``alert_banner``, ``offline_notice``, ``technician_label``, ``empty_label``, ``pending_label``
- screen ``job_detail``: ``back_button``, ``reference``, ``status``, ``summary``, ``alert_banner``,
  ``customer``, ``phone``, ``call_button``, ``address``, ``navigate_button``, ``window``,
  ``access_notes``, ``problem``, ``equipment``, ``site_visits``, ``history`` (long texts: a
  clipped widget with ``ids.clipped`` / ``more``), ``btn_on_my_way``, ``btn_arrived``,
  ``btn_done``, ``btn_could_not_complete`` ("done" and "could not complete" open the finish
  screen), ``rejection_banner``, ``rejection_text``, ``dismiss_rejection``, ``pending_label``
- screen ``finish``: ``resolution``, ``add_part_button`` (``screen.part_rows()``, each with
  ``name``, ``quantity``, ``remove_button``), ``add_photo_button`` (``screen.add_photo_path``),
  ``reason_no_access``, ``reason_needs_parts``, ``reason_customer_refused``, ``note``,
  ``form_error``, ``submit_button``, ``back_button``

App state a test can read: ``app.session`` (logged_in, error), ``app.board`` (jobs, offline,
updated_at), ``app.sync`` (pending_count, last_error, idle), ``app.outbox`` (sqlite rows).

Callbacks of network calls arrive through Kivy's Clock, so a test must keep pumping
frames while it waits (``ui.wait_until``); the loop sleeps 10 ms per frame so a server
running in a thread of the same process gets CPU time.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

_ENV = {
    "KIVY_NO_ARGS": "1",  # don't parse pytest's argv as Kivy options
    "KIVY_NO_CONFIG": "1",  # don't read or write config.ini
    "KIVY_NO_FILELOG": "1",
    "KIVY_LOG_MODE": "PYTHON",  # leave sys.stderr alone; logs go through `logging`
    "SDL_VIDEODRIVER": "offscreen",
    "KIVY_WINDOW": "sdl2",  # a readable error instead of exit 102 when GL is missing
    "KIVY_METRICS_DENSITY": "1",  # dp == px: stable layouts and screenshots
    "KIVY_CLIPBOARD": "sdl2",  # no xclip/xsel
}
for _key, _value in _ENV.items():
    os.environ.setdefault(_key, _value)
if "KIVY_HOME" not in os.environ:
    os.environ["KIVY_HOME"] = tempfile.mkdtemp(prefix="fixroute-kivy-")
    atexit.register(shutil.rmtree, os.environ["KIVY_HOME"], True)

__all__ = ["UI", "WINDOW_SIZE", "TechnicianDriver", "configure_kivy", "kivy_window", "technician_app", "ui"]

WINDOW_SIZE = (400, 720)  # portrait phone, in px (density 1)


def configure_kivy() -> None:
    """Window size and no host input devices; must happen before the Window exists.

    Under the offscreen driver the GL surface keeps the size the window was created
    with, so it is created at its final size. Called at import and by ``kivy_window``.
    """
    from kivy.config import Config

    Config.set("graphics", "width", str(WINDOW_SIZE[0]))
    Config.set("graphics", "height", str(WINDOW_SIZE[1]))
    Config.set("graphics", "resizable", "0")
    for key, _ in Config.items("input"):  # no probesysfs/mtdev devices of the host
        Config.remove_option("input", key)


configure_kivy()


@pytest.fixture(scope="session")
def kivy_window() -> Any:
    """The one Kivy Window of this process (Kivy can't make a second one)."""
    import sys

    if "kivy.core.window" not in sys.modules:
        configure_kivy()
    from kivy.clock import Clock
    from kivy.core.window import Window

    if Window is None:
        raise RuntimeError(
            "Kivy could not open an SDL2/OpenGL window. On Debian: apt-get install "
            "libgl1 libegl1 libgl1-mesa-dri (SDL offscreen = EGL + Mesa llvmpipe)"
        )
    Clock._max_fps = 0  # don't sleep to hold 60 fps between frames
    Window.size = WINDOW_SIZE
    return Window


class UI:
    """Drives running Apps without ``App.run()``: frames, taps, typing, screenshots."""

    def __init__(self, window: Any, shot_dir: str) -> None:
        self.window = window
        self.shot_dir = shot_dir
        self.apps: list[Any] = []

    def start(self, app: Any) -> Any:
        """``build()`` + ``on_start`` + start the event loop, without a main loop."""
        from kivy.base import runTouchApp

        self.window.size = WINDOW_SIZE
        app._run_prepare()  # load_config, build(), Window.add_widget(root), on_start
        runTouchApp(embedded=True)  # EventLoop + input providers, no mainloop
        self.apps.append(app)
        self.frames(3)
        return app

    def stop(self, app: Any) -> None:
        """Stop one app (``on_stop``) and clear the window, e.g. to simulate a restart."""
        from kivy.base import EventLoop

        if app in self.apps:
            self.apps.remove(app)
        app.stop()
        for child in self.window.children[:]:
            self.window.remove_widget(child)
        EventLoop.touches.clear()

    def stop_all(self) -> None:
        while self.apps:
            self.stop(self.apps[-1])

    def frames(self, n: int = 1) -> None:
        """n x (Clock tick, input dispatch, kv sync, draw + flip)."""
        from kivy.base import EventLoop

        for _ in range(n):
            EventLoop.idle()

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
        """Pump frames until ``predicate()`` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout:.1f}s: {what or predicate}")
            self.frames(1)
            time.sleep(0.01)

    def pump_for(self, seconds: float) -> None:
        """Keep frames going for a while (let retries and callbacks happen)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.frames(1)
            time.sleep(0.01)

    def tap(self, widget: Any) -> None:
        """A real touch down/up at the widget's centre, through the event loop."""
        from kivy.tests.common import UnitTestTouch

        self.frames(1)  # let pending layout run, or widget.pos may be stale
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        self.frames(1)
        touch.touch_up()
        self.frames(2)

    def type_into(self, text_input: Any, text: str) -> None:
        text_input.text = text
        self.frames(1)

    def screenshot(self, name: str) -> str:
        """Save the whole window as ``<shot_dir>/<name>.png``; return the path."""
        self.frames(2)
        self.window.canvas.ask_update()
        self.window.dispatch("on_draw")  # render into the buffer glReadPixels reads
        target = os.path.join(self.shot_dir, name + ".png")
        saved = self.window.screenshot(target)
        os.replace(saved, target)  # Window.screenshot appends 0001 to the name
        return target

    @staticmethod
    def pixel(png_path: str, x: float, y: float) -> tuple[float, ...]:
        """RGBA (0..1) at window coordinates (origin bottom-left, like Kivy's)."""
        from kivy.core.image import Image as CoreImage

        image = CoreImage(png_path, keep_data=True)
        return tuple(image.read_pixel(int(x), int(image.height - 1 - y)))


@pytest.fixture
def ui(kivy_window: Any, tmp_path: Any) -> Iterator[UI]:
    """The driver. Screenshots go to ``$UI_SCREENSHOT_DIR`` or the test's tmp_path."""
    shot_dir = os.environ.get("UI_SCREENSHOT_DIR") or str(tmp_path)
    os.makedirs(shot_dir, exist_ok=True)
    driver = UI(kivy_window, shot_dir)
    yield driver
    driver.stop_all()


class TechnicianDriver:
    """High-level steps on a running ``TechnicianApp`` (see the module docstring)."""

    def __init__(self, ui: UI, app: Any) -> None:
        self.ui = ui
        self.app = app

    @property
    def current(self) -> str:
        return self.app.root.current

    @property
    def login_screen(self) -> Any:
        return self.app.root.get_screen("login")

    @property
    def jobs_screen(self) -> Any:
        return self.app.root.get_screen("jobs")

    @property
    def detail(self) -> Any:
        return self.app.root.get_screen("job_detail")

    def login(self, username: str, password: str, *, expect_success: bool = True, timeout: float = 10.0) -> None:
        screen = self.login_screen
        assert self.current == "login", f"on screen {self.current!r}, not 'login'"
        self.ui.type_into(screen.ids.username, username)
        self.ui.type_into(screen.ids.password, password)
        self.ui.tap(screen.ids.login_button)
        if expect_success:
            self.ui.wait_until(
                lambda: self.current == "jobs", timeout, f"login as {username!r} (error: {screen.error!r})"
            )
        else:
            self.ui.wait_until(lambda: not self.app.session.busy and screen.error, timeout, "a login error message")

    def wait_for_jobs(self, min_count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        board = self.app.board
        self.ui.wait_until(
            lambda: board.loaded and not board.loading and len(board.jobs) >= min_count,
            timeout,
            f"at least {min_count} job(s) in the list",
        )
        self.ui.frames(2)  # let the RecycleView lay out its rows
        return list(board.jobs)

    def open_job(self, index: int = 0, *, job_id: int | None = None) -> dict[str, Any]:
        """Tap the row of the index-th job in route order (or of ``job_id``)."""
        if self.current != "jobs":
            self.ui.tap(self.detail.ids.back_button)
        if job_id is None:
            job_id = self.app.board.jobs[index]["id"]
        row = next((r for r in self.jobs_screen.rows() if r.job_id == job_id), None)
        if row is not None and self._on_screen(row):
            self.ui.tap(row)
        else:  # scrolled out of view: open it the way the row would
            self.jobs_screen.open_job(job_id)
            self.ui.frames(2)
        assert self.current == "job_detail"
        assert self.detail.job_id == job_id
        return self.app.board.job(job_id)

    def _on_screen(self, row: Any) -> bool:
        view = self.jobs_screen.ids.job_list
        _, bottom = view.to_window(view.x, view.y)
        _, centre = row.to_window(*row.center)
        return bottom + row.height / 2 <= centre <= bottom + view.height - row.height / 2

    def tap_action(self, action: str) -> None:
        """Tap "On my way" / "Arrived" / "Done" / "Could not complete" (action = on_my_way /
        arrived / done / could_not_complete; the last two open the finish screen)."""
        button = self.detail.ids[f"btn_{action}"]
        assert not button.disabled, f"{action!r} is disabled (allowed: {self.detail.allowed})"
        self.ui.tap(button)

    def wait_synced(self, timeout: float = 10.0) -> None:
        """Until nothing is in flight and nothing pending is left in the outbox."""
        self.ui.wait_until(
            lambda: self.app.sync.idle, timeout, f"outbox drained (last error: {self.app.sync.last_error!r})"
        )
        self.ui.frames(2)


@pytest.fixture
def technician_app(ui: UI, tmp_path: Any) -> Callable[..., TechnicianDriver]:
    """``technician_app(server_url, location=..., data_dir=..., **app_kwargs)`` -> driver.

    Each call starts a TechnicianApp; the data dir defaults to ``tmp_path/"phone"``, so a
    second call in the same test is the same phone restarted (stop the first one with
    ``ui.stop(driver.app)``).
    """
    from mobile.main import TechnicianApp
    from mobile.services.location import FixedLocation

    def start(
        server_url: str, *, location: Any = None, data_dir: str | None = None, **app_kwargs: Any
    ) -> TechnicianDriver:
        app_kwargs.setdefault("retry_base_s", 0.05)  # retries within a test's patience
        app_kwargs.setdefault("retry_max_s", 0.5)
        app_kwargs.setdefault("timeout_s", 5.0)
        app = TechnicianApp(
            server_url=server_url,
            data_dir=data_dir or str(tmp_path / "phone"),
            location=location or FixedLocation(48.8566, 2.3522),
            **app_kwargs,
        )
        return TechnicianDriver(ui, ui.start(app))

    return start
