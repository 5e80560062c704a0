"""TechnicianApp: builds the services and screens and wires them together.

Start it with ``python -m mobile [--server URL]`` (or ``python -m mobile.main``). The
server URL comes from ``--server``, else ``$FIXROUTE_SERVER``, else
``http://127.0.0.1:8000``.

For tests and embedding, everything the app needs from outside is a constructor
argument::

    TechnicianApp(server_url="http://127.0.0.1:8000", data_dir="/tmp/phone",
                  location=FixedLocation(48.85, 2.35), retry_base_s=0.2, retry_max_s=2)
"""
# The two blocks below must run before the kivy and mobile imports that follow them:
# ruff: noqa: E402

from __future__ import annotations

import os
import sys

# Kivy parses sys.argv on import unless told not to; our own options would make it exit.
os.environ.setdefault("KIVY_NO_ARGS", "1")

if not __package__:
    # buildozer packages the mobile/ folder as the app root and runs this file as a plain
    # script, so there is no "mobile" package on sys.path. Register this folder as it.
    import importlib.util

    _here = os.path.dirname(os.path.abspath(__file__))
    if "mobile" not in sys.modules:
        _spec = importlib.util.spec_from_file_location(
            "mobile", os.path.join(_here, "__init__.py"), submodule_search_locations=[_here]
        )
        assert _spec is not None
        assert _spec.loader is not None
        _package = importlib.util.module_from_spec(_spec)
        sys.modules["mobile"] = _package
        _spec.loader.exec_module(_package)

import argparse
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.uix.screenmanager import NoTransition, ScreenManager
from kivy.utils import platform

from mobile.fonts import setup_fonts
from mobile.job_board import JobBoard
from mobile.screens.job_detail import JobDetailScreen
from mobile.screens.job_list import JobListScreen
from mobile.screens.login import LoginScreen
from mobile.services.api_client import ApiClient
from mobile.services.location import (
    AndroidGpsLocation,
    FixedLocation,
    LocationProvider,
    NoLocation,
)
from mobile.services.outbox import Outbox
from mobile.services.store import DeviceStore
from mobile.session import Session
from mobile.sync import Backoff, SyncEngine

DEFAULT_SERVER = "http://127.0.0.1:8000"
WINDOW_SIZE = (400, 720)  # desktop runs: roughly a phone in portrait


class TechnicianApp(App):
    def __init__(
        self,
        *,
        server_url: str = DEFAULT_SERVER,
        data_dir: str | None = None,
        location: LocationProvider | None = None,
        retry_base_s: float = 2.0,
        retry_max_s: float = 60.0,
        timeout_s: float = 10.0,
        refresh_every_s: float = 300.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.title = "Fixroute Technician"
        self.server_url = server_url.rstrip("/")
        self._data_dir = data_dir
        self.location: LocationProvider = location or default_location()
        self._backoff = (retry_base_s, retry_max_s)  # first and longest retry delay
        self._timeout_s = timeout_s
        self._refresh_every_s = refresh_every_s  # 0: only on demand

    def build(self) -> ScreenManager:
        setup_fonts()
        data_dir = self._data_dir or self.user_data_dir
        os.makedirs(data_dir, exist_ok=True)
        self.api = ApiClient(self.server_url, timeout=self._timeout_s)
        self.store = DeviceStore(data_dir)
        self.outbox = Outbox(os.path.join(data_dir, "outbox.sqlite3"))
        self.session = Session(api=self.api, store=self.store)
        self.board = JobBoard(api=self.api, store=self.store, outbox=self.outbox)
        self.sync = SyncEngine(
            api=self.api,
            outbox=self.outbox,
            location=self.location,
            backoff=Backoff(first=self._backoff[0], maximum=self._backoff[1]),
        )

        self.session.bind(on_login=self._on_login, on_logout=self._on_logout)
        self.board.bind(on_auth_required=self._on_auth_required, offline=self._on_offline_changed)
        self.sync.bind(
            on_auth_required=self._on_auth_required,
            on_job=lambda _sync, job: self.board.apply_server_job(job),
            on_changed=lambda _sync: self.board.rebuild(),
            on_rejected=lambda _sync, _event, _msg: self.board.refresh(),
        )

        manager = ScreenManager(transition=NoTransition())
        manager.add_widget(LoginScreen(name="login", session=self.session, sync=self.sync, server_url=self.server_url))
        manager.add_widget(JobListScreen(name="jobs", board=self.board, sync=self.sync, session=self.session))
        manager.add_widget(JobDetailScreen(name="job_detail", board=self.board, sync=self.sync))
        return manager

    def on_start(self) -> None:
        self.location.start()
        if self._refresh_every_s:
            Clock.schedule_interval(self._refresh_tick, self._refresh_every_s)
        if platform == "android":
            from kivy.core.window import Window

            Window.softinput_mode = "below_target"  # keep the password field visible
        if self.session.restore():
            self.board.load_cache()
            self.root.current = "jobs"
            self.board.refresh()
            self.sync.sync_now()
        else:
            self.root.current = "login"

    def on_pause(self) -> bool:
        return True  # Android: keep the app alive in the background

    def on_resume(self) -> None:
        if self.session.logged_in:
            self.board.refresh()
            self.sync.sync_now()

    def on_stop(self) -> None:
        Clock.unschedule(self._refresh_tick)
        for part in (self.sync, self.board, self.session):
            part.close()
        self.location.stop()
        self.outbox.close()

    # -- wiring ----------------------------------------------------------------------

    def _refresh_tick(self, _dt: float) -> None:
        # The dispatcher may have added or re-ordered jobs since the last look.
        if self.session.logged_in:
            self.board.refresh()

    def _on_login(self, _session: Session) -> None:
        self.board.clear()
        self.root.current = "jobs"
        self.board.refresh()
        self.sync.resume()

    def _on_logout(self, _session: Session) -> None:
        self.sync.pause()
        self.board.clear()
        self.root.current = "login"

    def _on_offline_changed(self, _board: JobBoard, offline: bool) -> None:
        if not offline:  # the server answers again: send the outbox now, not at next retry
            self.sync.sync_now()

    def _on_auth_required(self, _source: Any, message: str) -> None:
        if self.session.logged_in:
            self.session.expire(message)


def default_location() -> LocationProvider:
    return AndroidGpsLocation() if platform == "android" else NoLocation()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mobile", description="Fixroute technician app")
    parser.add_argument(
        "--server",
        default=os.environ.get("FIXROUTE_SERVER") or DEFAULT_SERVER,
        help="server base URL (default: $FIXROUTE_SERVER or %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="where the token, job cache and outbox live (default: the platform's app data dir)",
    )
    parser.add_argument("--location", default=None, metavar="LAT,LON", help="desktop only: pretend the phone is here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    location: LocationProvider | None = None
    if args.location:
        lat, lon = (float(part) for part in args.location.split(","))
        location = FixedLocation(lat, lon)
    if platform not in ("android", "ios"):
        from kivy.config import Config

        Config.set("graphics", "width", str(WINDOW_SIZE[0]))
        Config.set("graphics", "height", str(WINDOW_SIZE[1]))
    TechnicianApp(server_url=args.server, data_dir=args.data_dir, location=location).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
